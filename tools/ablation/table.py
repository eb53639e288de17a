"""docs/ablation.md from the finished variants of tools/ablation/run.sh (those with an eval.json).

    python3 tools/ablation/table.py ROOT RESULT EPOCHS PEOPLE "variant variant ..."

ROOT is one seed's folder (OUT/eN-sS). Variants also finished under other seeds beside it (OUT/eN-s*) get a second
table: each seed's numbers and their spread, so that a gap between variants can be set against run-to-run noise.
"""
import glob, json, os, re, sys
root, result, epochs, people, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
def rate(model, fmr=1e-3):
    for x in model["rates"]:
        if abs(x["fmr"] - fmr) < 1e-12: return x
def own_cross(e):
    models = {m["model"]: m for m in e["results"]}
    return models.get("dlib-resnet"), models.get("mobilefacenet-casia")
def extra(e, cross):
    """Issue 17's measures where the evaluation has them: spread, detail (whole / inner), cross rank-1."""
    q = e["quality"]
    sp = f'{q["pixel_spread"]:.3f}' if q.get("pixel_spread") is not None else "–"
    sh = q.get("sharpness")
    dt = f'{sh["whole"]:.2f} / {sh["inner"]:.2f}' if sh else "–"
    r1 = f'{100 * cross["identification"]["rank1"]:.1f}%' if cross and cross.get("identification") else "–"
    return f"{sp} | {dt} | {r1}"
rows, floor, ssims, first = [], None, [], None
for v in order:
    p = os.path.join(root, v, "eval.json")
    if not os.path.exists(p): continue
    e = json.load(open(p))
    meta = e["decoder"].get("metadata", {})
    cfg = json.loads(meta.get("train_config", "{}"))
    first = first or (cfg, meta)
    # Options (l2, stages, stage_from, identity_centred) sit apart from the weights since LossOptions; older files hold them in Loss.
    loss = {**cfg.get("Loss", {}), **cfg.get("LossOptions", {})}
    own, cross = own_cross(e)
    q = e["quality"]
    if "mean_face_ssim" in q: floor = q
    ssims.append(q["ssim_mean"])
    cell = lambda m, k: f'{100 * rate(m)[k]:.1f}%' if m else "–"
    shape = json.loads(meta.get("decoder_config", "{}")).get("BlockWidths")
    perceptual = loss.get("Perceptual", 0) or loss.get("PerceptualLocal", 0)
    terms = ", ".join(f"{k}={v}" for k, v in loss.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v and k not in ("PerceptualStages", "PerceptualFrom", "PixelL2", "IdentityCentred"))
    if perceptual:
        stage0 = loss.get("PerceptualFrom", 1)
        terms += f" (feature maps {stage0}–{stage0 + loss.get('PerceptualStages', 3) - 1} of 5)"
    if loss.get("IdentityCentred"):
        terms += "; identity cosine around the training set's mean template"
    if cfg.get("Augment"): terms += "; photos augmented and re-encoded"
    if cfg.get("Discriminator") and loss.get("Adv"): terms += f"; discriminator {cfg['Discriminator']}"
    if (cfg.get("Decoder") or {}).get("ShuffleBlocks"): terms += f"; pixel shuffle in the top {cfg['Decoder']['ShuffleBlocks']} blocks"
    rows.append(f'| {v} | {terms}; widths {shape}, {int(meta.get("parameters", 0)) / 1e6:.1f} M params | {float(meta.get("train_seconds", "nan")) / 60:.0f} | {cell(own, "type_i")} | {cell(own, "type_ii")} | '
                f'{cell(cross, "type_i")} | {cell(cross, "type_ii")} | {q["ssim_mean"]:.3f} | {q["psnr_mean_db"]:.2f} | {extra(e, cross)} |')
def numbers(path):
    e = json.load(open(path))
    own, cross = own_cross(e)
    return [100 * rate(own)["type_i"], 100 * rate(own)["type_ii"], 100 * rate(cross)["type_i"] if cross else float("nan"),
            100 * rate(cross)["type_ii"] if cross else float("nan"), e["quality"]["ssim_mean"]]
seed_of = lambda d: int(re.search(r"-s(\d+)$", d).group(1))
tag = re.sub(r"-s\d+$", "", os.path.basename(os.path.abspath(root)))
seed_dirs = sorted((d for d in glob.glob(os.path.join(os.path.dirname(os.path.abspath(root)), f"{tag}-s*")) if re.search(r"-s\d+$", d)), key=seed_of)
spread = []
for v in order:
    runs = [(seed_of(d), numbers(os.path.join(d, v, "eval.json"))) for d in seed_dirs if os.path.exists(os.path.join(d, v, "eval.json"))]
    if len(runs) < 2: continue
    fmt = lambda x: [f"{a:.1f}%" for a in x[:4]] + [f"{x[4]:.3f}"]
    for sd, x in runs: spread.append(f"| {v} | {sd} | " + " | ".join(fmt(x)) + " |")
    span = [max(x[k] for _, x in runs) - min(x[k] for _, x in runs) for k in range(5)]
    spread.append(f"| {v} | **spread** | " + " | ".join([f"**{a:.1f}**" for a in span[:4]] + [f"**{span[4]:.3f}**"]) + " |")
cfg0, meta0 = first or ({}, {})
lr = cfg0.get("Lr", 1e-3)
if meta0.get("init"):
    how = (f"each variant fine-tunes the shipped decoder (`{meta0['init']}`, {int(meta0.get('total_epochs', 0)) - int(meta0.get('epochs_done', 0))} epochs) "
           f"with Adam afresh, lr {lr:g} (cosine), {epochs} epoch(s) ({int(epochs) * 330} steps), on the shipped recipe's last loss plus the row's change; "
           "so \"recipe\" is the shipped decoder trained one more epoch on its own loss")
else:
    how = f"seed {cfg0.get('Seed', 1)}, lr {lr:g} (cosine), {epochs} epoch(s) ({int(epochs) * 330} steps) per variant, the default decoder shape unless the row names another"
with open(result, "w") as f:
    f.write(f"""# Loss ablation

`tools/ablation/run.sh`{" (SET=sharp)" if meta0.get("init") else ""}: dlib-resnet decoder, split `lfw-dfd-v1`, batch 32; {how}; evaluated with `dfd evaluate --limit-people {people}`
(the first {people} test people of the split, all their images). Match rates at FMR 1e-3; type II averaged per person.
"cross" is `mobilefacenet-casia`, which never saw the decoder. Short budget: this ranks the terms early in training,
it does not predict the numbers of a full run. "train min" is wall time, which depends on what else ran on the
2 cores and on the allocator (runs before `./dfd` set glibc's huge-page tunable took about 2.5x as long); the work
per variant is the same {int(epochs) * 330} steps.

| variant | loss weights | train min | own type I | own type II | cross type I | cross type II | SSIM | PSNR dB | spread | detail whole / inner | cross rank-1 |
|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + (f"""
The floor on the same faces: one image, the pixel mean of these test originals, scores SSIM {floor["mean_face_ssim"]:.3f} and
PSNR {floor["mean_face_psnr_db"]:.2f} dB against them (`dfd evaluate` reports it). The variants' SSIM lies between
{min(ssims) - floor["mean_face_ssim"]:+.3f} and {max(ssims) - floor["mean_face_ssim"]:+.3f} of that floor.
""" if floor else "") + (f"""
## Run-to-run spread

The same variant, budget and test people, trained with other seeds (`SEED=2 VARIANTS="..." tools/ablation/run.sh`); the
seed sets the decoder's initial weights and the order and mirroring of the training images. "spread" is max − min over
the seeds, in percentage points (SSIM in its own units).

| variant | seed | own type I | own type II | cross type I | cross type II | SSIM |
|---|---|---|---|---|---|---|
""" + "\n".join(spread) + "\n" if spread else ""))
print(open(result).read())
