namespace Dfd.Core;

/// <summary>Cosine similarity of templates, the score every FR comparison in Dfd uses; all sums in double.</summary>
public static class Cosine
{
    /// <summary>cos(a, b) = a·b / √(|a|²|b|²).</summary>
    /// <exception cref="ArgumentException">Lengths differ, or a vector has zero norm (its direction is undefined, and a
    /// silent 0 or NaN would corrupt every metric downstream).</exception>
    public static double Of(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"vector lengths differ: {a.Length} and {b.Length}");
        double dot = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }
        if (aa == 0 || bb == 0)
            throw new ArgumentException("cosine similarity of a zero vector is undefined");
        return dot / Math.Sqrt(aa * bb);
    }

    /// <summary>Unit-length copies in double: for many pairs, normalise once and take <see cref="Dot(double[], double[])"/>.</summary>
    /// <exception cref="ArgumentException">A template is zero or not finite.</exception>
    public static double[][] Unit(IReadOnlyList<float[]> t)
    {
        var r = new double[t.Count][];
        for (int i = 0; i < t.Count; i++)
        {
            double s = 0;
            foreach (var v in t[i]) s += (double)v * v;
            if (s == 0 || !double.IsFinite(s)) throw new ArgumentException($"template {i} is zero or not finite; its cosine similarity is undefined");
            double k = 1 / Math.Sqrt(s);
            r[i] = t[i].Select(v => v * k).ToArray();
        }
        return r;
    }

    /// <summary>A unit-length copy in float (a template again, e.g. a point on the path between two templates).</summary>
    public static float[] Unit(float[] v)
    {
        double n = Math.Sqrt(v.Sum(x => (double)x * x));
        return v.Select(x => (float)(x / n)).ToArray();
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }
}
