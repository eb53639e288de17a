using System.Numerics;
using Dfd.Imaging;
using Microsoft.ML.OnnxRuntime;

namespace Dfd.Detection;

/// <summary>
/// YuNet-s face detector (OpenCV zoo face_detection_yunet_2023mar) run through ONNX Runtime. Pre- and post-processing
/// follow OpenCV's FaceDetectorYN: BGR float 0..255 NCHW without normalisation, zero padding on the right and bottom
/// to a multiple of 32, per-anchor decoding at strides 8/16/32, then greedy NMS. Unlike OpenCV, NMS by default averages
/// the near-duplicate anchors of each face (<see cref="Nms"/>), which halves the landmark jitter under image shifts.
/// Images whose longer side exceeds <c>maxSide</c> are shrunk (bilinear) first; results are in the input's pixels.
/// </summary>
/// <remarks>
/// Thread-safety: <see cref="Detect"/> may be called from several threads at once, because every call owns its
/// buffers and ONNX Runtime allows concurrent <c>Run</c> on one session; it gains little, since one call already
/// uses all cores. <see cref="Dispose"/> must not overlap a running <see cref="Detect"/>.
/// </remarks>
public sealed class YuNet : IDisposable
{
    public const string ModelFile = "yunet_s_dynamic.onnx";

    /// <summary>Environment variable naming a models directory (holding <c>yunet/yunet_s_dynamic.onnx</c>).</summary>
    public const string ModelsEnvVar = "DFD_MODELS";

    static readonly int[] Strides = [8, 16, 32];
    const int Divisor = 32;
    // OpenCV's top_k: bounds NMS's quadratic cost when a low threshold lets most anchors through.
    const int MaxCandidates = 5000;

    readonly InferenceSession _session;
    readonly string _inputName;
    readonly string[] _outputNames;
    // Set when the model has a fixed input size (e.g. yunet_s_640_640.onnx); images are then letterboxed into it.
    readonly int _fixedW, _fixedH;
    bool _disposed;

    public float ScoreThreshold { get; }
    public float NmsThreshold { get; }
    /// <summary>Longer image side the network sees; larger images are shrunk. Ignored for a fixed-size model, which sets its own.</summary>
    public int MaxSide { get; }

    /// <summary>Average near-duplicate detections (see <see cref="Nms"/>) instead of keeping OpenCV's single best anchor.</summary>
    public bool Vote { get; }

    public YuNet(string onnxPath, float scoreThreshold = 0.6f, float nmsThreshold = 0.3f, int maxSide = 640, bool vote = true)
    {
        if (!(scoreThreshold >= 0 && scoreThreshold <= 1)) throw new ArgumentOutOfRangeException(nameof(scoreThreshold), scoreThreshold, "must be in [0, 1]");
        if (!(nmsThreshold > 0 && nmsThreshold <= 1)) throw new ArgumentOutOfRangeException(nameof(nmsThreshold), nmsThreshold, "must be in (0, 1]");
        if (maxSide < Divisor) throw new ArgumentOutOfRangeException(nameof(maxSide), maxSide, $"must be at least {Divisor}");
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"YuNet model not found: {onnxPath}", onnxPath);
        ScoreThreshold = scoreThreshold;
        NmsThreshold = nmsThreshold;
        MaxSide = maxSide;
        Vote = vote;

        _session = new InferenceSession(onnxPath);
        try
        {
            if (_session.InputMetadata.Count != 1) throw new InvalidDataException($"{onnxPath}: expected one input, found {_session.InputMetadata.Count}");
            var (name, meta) = _session.InputMetadata.First();
            var dims = meta.Dimensions;
            if (dims.Length != 4 || (dims[1] != 3 && dims[1] > 0))
                throw new InvalidDataException($"{onnxPath}: input '{name}' has shape [{string.Join(",", dims)}], expected [N,3,H,W]");
            _inputName = name;
            if (dims[2] > 0 && dims[3] > 0) { _fixedH = dims[2]; _fixedW = dims[3]; }

            _outputNames = new[] { "cls", "obj", "bbox", "kps" }.SelectMany(k => Strides.Select(s => $"{k}_{s}")).ToArray();
            var missing = _outputNames.Where(o => !_session.OutputMetadata.ContainsKey(o)).ToList();
            if (missing.Count > 0) throw new InvalidDataException($"{onnxPath}: not a YuNet model, outputs {string.Join(", ", missing)} are missing");
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <c>models/yunet/yunet_s_dynamic.onnx</c>, looked up first under <c>$DFD_MODELS</c>, then in each ancestor of the
    /// application's directory up to the one holding <c>Dfd.slnx</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">with every path tried.</exception>
    public static string DefaultModelPath => FindModel(ModelFile);

    /// <summary>As <see cref="DefaultModelPath"/> for any file; <paramref name="modelsDir"/>, when given, replaces $DFD_MODELS.</summary>
    public static string FindModel(string file, string? modelsDir = null)
    {
        var tried = new List<string>();
        var env = modelsDir ?? Environment.GetEnvironmentVariable(ModelsEnvVar);
        if (!string.IsNullOrWhiteSpace(env))
            foreach (var p in new[] { Path.Combine(env, "yunet", file), Path.Combine(env, file) })
            {
                if (File.Exists(p)) return Path.GetFullPath(p);
                tried.Add(p);
            }
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "models", "yunet", file);
            if (File.Exists(p)) return p;
            tried.Add(p);
            // Above the repository root a models/ folder would belong to something else.
            if (File.Exists(Path.Combine(d.FullName, "Dfd.slnx"))) break;
        }
        throw new FileNotFoundException(
            $"YuNet model '{file}' not found; set {ModelsEnvVar} to a models directory holding yunet/{file}. Tried: {string.Join(", ", tried)}", file);
    }

    /// <summary>Faces with score at least <see cref="ScoreThreshold"/>, after NMS, best first, in the image's pixels.</summary>
    public IReadOnlyList<Face> Detect(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int w = image.Width, h = image.Height;
        float scale = _fixedW > 0
            ? MathF.Min(1f, MathF.Min((float)_fixedW / w, (float)_fixedH / h))
            : MathF.Min(1f, (float)MaxSide / Math.Max(w, h));
        int rw = Math.Clamp((int)MathF.Round(w * scale), 1, _fixedW > 0 ? _fixedW : int.MaxValue);
        int rh = Math.Clamp((int)MathF.Round(h * scale), 1, _fixedH > 0 ? _fixedH : int.MaxValue);
        int pw = _fixedW > 0 ? _fixedW : (rw + Divisor - 1) / Divisor * Divisor;
        int ph = _fixedH > 0 ? _fixedH : (rh + Divisor - 1) / Divisor * Divisor;

        var input = new float[3 * pw * ph];
        ResizeToBgrPlanes(image, rw, rh, pw, ph, input);

        List<Face> candidates;
        using (var run = new RunOptions())
        using (var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, ph, pw]))
        using (var outputs = _session.Run(run, [_inputName], [value], _outputNames))
            // Rounding made the resized size slightly off the exact scale, so map back per axis.
            candidates = Decode(outputs, pw, ph, (float)w / rw, (float)h / rh);
        return Nms(candidates, NmsThreshold, Vote);
    }

    /// <summary>
    /// Bilinear resize (half-pixel centres, as OpenCV's INTER_LINEAR) straight into the network's BGR planes; the
    /// padding stays zero as in OpenCV's copyMakeBorder.
    /// </summary>
    static void ResizeToBgrPlanes(RgbImage img, int rw, int rh, int pw, int ph, float[] dst)
    {
        int w = img.Width, h = img.Height, plane = pw * ph;
        var src = img.Data;
        var (x0, x1, ax) = Taps(w, rw);
        var (y0, y1, ay) = Taps(h, rh);
        for (int y = 0; y < rh; y++)
        {
            int r0 = y0[y] * w * 3, r1 = y1[y] * w * 3, row = y * pw;
            float b = ay[y];
            for (int x = 0; x < rw; x++)
            {
                int c0 = 3 * x0[x], c1 = 3 * x1[x];
                int i00 = r0 + c0, i01 = r0 + c1, i10 = r1 + c0, i11 = r1 + c1;
                float a = ax[x];
                for (int c = 0; c < 3; c++)
                {
                    float top = src[i00 + c] + (src[i01 + c] - src[i00 + c]) * a;
                    float bot = src[i10 + c] + (src[i11 + c] - src[i10 + c]) * a;
                    dst[(2 - c) * plane + row + x] = top + (bot - top) * b;
                }
            }
        }
    }

    /// <summary>For each output coordinate: the two neighbouring source pixels and the weight of the second.</summary>
    static (int[] i0, int[] i1, float[] a) Taps(int n, int m)
    {
        var i0 = new int[m]; var i1 = new int[m]; var a = new float[m];
        float f = (float)n / m;
        for (int d = 0; d < m; d++)
        {
            float s = Math.Clamp((d + 0.5f) * f - 0.5f, 0f, n - 1);
            int i = Math.Min((int)s, n - 1);
            i0[d] = i; i1[d] = Math.Min(i + 1, n - 1); a[d] = s - i;
        }
        return (i0, i1, a);
    }

    List<Face> Decode(IReadOnlyList<OrtValue> outs, int pw, int ph, float sx, float sy)
    {
        var faces = new List<Face>();
        float thr2 = ScoreThreshold * ScoreThreshold;
        int n = Strides.Length;
        for (int k = 0; k < n; k++)
        {
            int stride = Strides[k], cols = pw / stride, rows = ph / stride, count = cols * rows;
            var cls = outs[k].GetTensorDataAsSpan<float>();
            var obj = outs[k + n].GetTensorDataAsSpan<float>();
            var box = outs[k + 2 * n].GetTensorDataAsSpan<float>();
            var kps = outs[k + 3 * n].GetTensorDataAsSpan<float>();
            if (cls.Length != count || obj.Length != count || box.Length != 4 * count || kps.Length != 10 * count)
                throw new InvalidDataException($"YuNet stride {stride}: {cls.Length} anchors for a {pw}x{ph} input, expected {count}");
            for (int idx = 0; idx < count; idx++)
            {
                float p = Math.Clamp(cls[idx], 0f, 1f) * Math.Clamp(obj[idx], 0f, 1f);
                if (p < thr2) continue;
                int r = idx / cols, c = idx % cols;
                float cx = (c + box[4 * idx]) * stride, cy = (r + box[4 * idx + 1]) * stride;
                float bw = MathF.Exp(box[4 * idx + 2]) * stride, bh = MathF.Exp(box[4 * idx + 3]) * stride;
                var lm = new Vector2[5];
                for (int j = 0; j < 5; j++)
                    lm[j] = new Vector2((kps[10 * idx + 2 * j] + c) * stride * sx, (kps[10 * idx + 2 * j + 1] + r) * stride * sy);
                faces.Add(new Face((cx - bw / 2) * sx, (cy - bh / 2) * sy, bw * sx, bh * sy, MathF.Sqrt(p), lm));
            }
        }
        return faces;
    }

    /// <summary>
    /// Greedy NMS: best score first, dropping any face whose box overlaps a kept one by IoU above
    /// <paramref name="iouThreshold"/>. With <paramref name="vote"/>, a kept face's box and landmarks become the
    /// score-weighted mean over itself and the faces it dropped with IoU at least <see cref="VoteIoU"/>; its score stays.
    /// </summary>
    public static List<Face> Nms(IEnumerable<Face> faces, float iouThreshold, bool vote = false)
    {
        var order = faces.OrderByDescending(f => f.Score).Take(MaxCandidates).ToList();
        var kept = new List<Face>();
        var groups = new List<List<Face>>();
        foreach (var f in order)
        {
            int hit = -1;
            float best = 0;
            for (int i = 0; i < kept.Count; i++)
            {
                float iou = IoU(kept[i], f);
                if (iou > iouThreshold && (hit < 0 || iou > best)) { hit = i; best = iou; }
            }
            if (hit < 0) { kept.Add(f); groups.Add([f]); }
            else if (vote && best >= VoteIoU) groups[hit].Add(f);
        }
        return vote ? groups.Select(Mean).ToList() : kept;
    }

    /// <summary>
    /// Neighbouring anchors see the same face but their landmarks differ by several pixels, and which anchor scores
    /// highest flips with a one-pixel shift of the image; averaging them makes landmarks stable. Only near-duplicates
    /// (this IoU or more) are averaged, so a second face that NMS suppressed does not drag the first.
    /// </summary>
    public const float VoteIoU = 0.6f;

    static Face Mean(List<Face> g)
    {
        if (g.Count == 1) return g[0];
        float sw = 0, x = 0, y = 0, r = 0, b = 0;
        var lm = new Vector2[g[0].Landmarks.Length];
        foreach (var f in g)
        {
            float w = f.Score;
            sw += w; x += w * f.X; y += w * f.Y; r += w * (f.X + f.Width); b += w * (f.Y + f.Height);
            for (int j = 0; j < lm.Length; j++) lm[j] += w * f.Landmarks[j];
        }
        for (int j = 0; j < lm.Length; j++) lm[j] /= sw;
        return new Face(x / sw, y / sw, (r - x) / sw, (b - y) / sw, g[0].Score, lm);
    }

    public static float IoU(Face a, Face b)
    {
        float iw = MathF.Min(a.X + a.Width, b.X + b.Width) - MathF.Max(a.X, b.X);
        float ih = MathF.Min(a.Y + a.Height, b.Y + b.Height) - MathF.Max(a.Y, b.Y);
        if (iw <= 0 || ih <= 0) return 0;
        float inter = iw * ih, union = a.Width * a.Height + b.Width * b.Height - inter;
        return union > 0 ? inter / union : 0;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }
}
