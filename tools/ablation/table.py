"""docs/ablation.md from the finished variants of tools/ablation/run.sh (those with an eval.json).

    python3 tools/ablation/table.py ROOT RESULT EPOCHS PEOPLE "variant variant ..."
"""
import json, os, sys
root, result, epochs, people, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
def rate(model, fmr=1e-3):
    for x in model["rates"]:
        if abs(x["fmr"] - fmr) < 1e-12: return x
rows, floor, ssims = [], None, []
for v in order:
    p = os.path.join(root, v, "eval.json")
    if not os.path.exists(p): continue
    e = json.load(open(p))
    meta = e["decoder"].get("metadata", {})
    loss = json.loads(meta.get("train_config", "{}")).get("Loss", {})
    models = {m["model"]: m for m in e["results"]}
    own, cross = models.get("dlib-resnet"), models.get("mobilefacenet-casia")
    q = e["quality"]
    if "mean_face_ssim" in q: floor = q
    ssims.append(q["ssim_mean"])
    cell = lambda m, k: f'{100 * rate(m)[k]:.1f}%' if m else "–"
    shape = json.loads(meta.get("decoder_config", "{}")).get("BlockWidths")
    perceptual = loss.get("Perceptual", 0) or loss.get("PerceptualLocal", 0)
    terms = ", ".join(f"{k}={v}" for k, v in loss.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v and k not in ("PerceptualStages", "PerceptualFrom"))
    if perceptual:
        first = loss.get("PerceptualFrom", 1)
        terms += f" (feature maps {first}–{first + loss.get('PerceptualStages', 3) - 1} of 5)"
    rows.append(f'| {v} | {terms}; widths {shape}, {int(meta.get("parameters", 0)) / 1e6:.1f} M params | {float(meta.get("train_seconds", "nan")) / 60:.0f} | {cell(own, "type_i")} | {cell(own, "type_ii")} | '
                f'{cell(cross, "type_i")} | {cell(cross, "type_ii")} | {q["ssim_mean"]:.3f} | {q["psnr_mean_db"]:.2f} |')
with open(result, "w") as f:
    f.write(f"""# Loss ablation

`tools/ablation/run.sh`: dlib-resnet decoder, split `lfw-dfd-v1`, seed 1, batch 32, lr 1e-3 (cosine), {epochs} epoch(s)
({int(epochs) * 330} steps) per variant, the default decoder shape unless the row names another; evaluated with `dfd evaluate --limit-people {people}`
(the first {people} test people of the split, all their images). Match rates at FMR 1e-3; type II averaged per person.
"cross" is `mobilefacenet-casia`, which never saw the decoder. Short budget: this ranks the terms early in training,
it does not predict the numbers of a full run. "train min" is wall time, which depends on what else ran on the
2 cores and on the allocator (runs before `./dfd` set glibc's huge-page tunable took about 2.5x as long); the work
per variant is the same {int(epochs) * 330} steps.

| variant | loss weights | train min | own type I | own type II | cross type I | cross type II | SSIM | PSNR dB |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + (f"""
The floor on the same faces: one image, the pixel mean of these test originals, scores SSIM {floor["mean_face_ssim"]:.3f} and
PSNR {floor["mean_face_psnr_db"]:.2f} dB against them (`dfd evaluate` reports it). The variants' SSIM lies between
{min(ssims) - floor["mean_face_ssim"]:+.3f} and {max(ssims) - floor["mean_face_ssim"]:+.3f} of that floor.
""" if floor else ""))
print(open(result).read())
