"""docs/findings.md and docs/findings/*.png from the comparisons of tools/findings/run.sh.

    python3 tools/findings/summarise.py OUT DOCS kind [kind ...]

OUT holds <kind>.json (`dfd analyze compare --json`) and <kind>/ (its report); the tables are read from the JSON, the
figures copied from the reports. Nothing here measures anything: every number is one the CLI wrote.
"""
import json, os, shutil, sys

out, docs, kinds = sys.argv[1], sys.argv[2], sys.argv[3:]
figs = os.path.join(docs, "findings")
os.makedirs(figs, exist_ok=True)
runs = {k: json.load(open(os.path.join(out, f"{k}.json"))) for k in kinds if os.path.exists(os.path.join(out, f"{k}.json"))}
if not runs: sys.exit(f"{out}: no comparison JSON")
first = next(iter(runs.values()))["analysis"]
models = first["models"]
prov = first["provenance"]
pct = lambda x: "–" if x is None else f"{100 * x:.0f}%"
num = lambda x, f="{:.2f}": "–" if x is None else f.format(x)


def results(kind):
    return runs[kind]["analysis"]["results"] if kind in runs else []


def by_model(kind):
    return {r["encoder"]: r for r in results(kind)}


def points(r, series, strength, tol=1e-6):
    return [p for p in r["points"] if p["series"] == series and abs(p["strength"] - strength) < tol]


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def rate(r, series, strengths):
    ps = [p for s in strengths for p in points(r, series, s)]
    return mean([p["match_rate"] for p in ps]), mean([p["mean_similarity"] for p in ps])


def slope(r, quantity_prefix):
    for f in r.get("fits", []) if r else []:
        if f["quantity"].startswith(quantity_prefix): return f
    return None


def success(p):
    return 1 - p["match_rate"] if p["series"].endswith(":dodge") else p["match_rate"]


md = []
w = md.append
n_faces = len(first["results"][0]["inputs"])
w("# What each model keeps: findings\n")
w(f"Made by `tools/findings/run.sh` on {prov.get('date (UTC)', '?')} (UTC): `dfd analyze compare` of "
  f"{', '.join(f'`{m}`' for m in models)} on the first photo of the first {n_faces} test people of split `lfw-dfd-v1` "
  "(people no shipped decoder saw; interpolation: the first two). Every model aligns each photo to its own crop, perturbs "
  "that crop, and encodes it; a match is a cosine to the clean template at or above the model's FMR 1e-3 threshold on "
  "LFW pairs. The full reports (HTML, every face) are in the run's folder; the tables below are read from their JSON.\n")
w("| model | decoder | threshold (FMR 1e-3) |\n|---|---|---|")
for m in models:
    w(f"| `{m}` | {prov.get(f'decoder for {m}', 'none')} | {num(by_model(kinds[0]).get(m, {}).get('threshold'), '{:.4f}')} |")
w("")

if any(k in runs for k in ("rotation", "translation", "scale")):
    w("## Geometry: how much of a roll, shift and zoom each template keeps\n")
    w("Slope: the change the face detector measures in the reconstruction over the change it measures in the perturbed "
      "input (1: the template carries the whole change; 0: none of it). It needs a decoder; a model without one has "
      "only its match rates. Match: share of perturbed inputs still matching their clean template (mean cosine in brackets).\n")
    w("| model | roll slope | shift x slope | shift y slope | zoom slope | match at ±20° roll | match at ±10 px shift | match at zoom 0.8 / 1.2 |")
    w("|---|---|---|---|---|---|---|---|")
    rot, tra, sca = by_model("rotation"), by_model("translation"), by_model("scale")
    for m in models:
        cells = []
        for r, q in ((rot.get(m), "roll"), (tra.get(m), "landmark centre x"), (tra.get(m), "landmark centre y"), (sca.get(m), "log inter-ocular")):
            f = slope(r, q)
            cells.append(f"{f['slope']:.2f} (n={f['points']})" if f and f.get('slope') is not None else "–")
        def cell(r, series, strengths):
            if not r: return "–"
            mr, ms = rate(r, series, strengths)
            return f"{pct(mr)} ({num(ms, '{:.3f}')})"
        cells.append(cell(rot.get(m), "rotate", (-20, 20)))
        tr = tra.get(m)
        if tr:
            a = [p for s in ("translate-x", "translate-y") for v in (-10, 10) for p in points(tr, s, v)]
            cells.append(f"{pct(mean([p['match_rate'] for p in a]))} ({num(mean([p['mean_similarity'] for p in a]), '{:.3f}')})" if a else "–")
        else: cells.append("–")
        cells.append(cell(sca.get(m), "scale", (0.8, 1.2)))
        w(f"| `{m}` | " + " | ".join(cells) + " |")
    w("")

occ = by_model("occlusion")
if occ:
    named = [p["series"] for p in next(iter(occ.values()))["points"]]
    w("## Occlusion: which part of the face each template needs\n")
    w("Each named region blacked out in the model's own crop: mean cosine to the clean template, and in brackets the share "
      "still matching. Peak: the most damaging place of the 30-pixel patch sweep (pixel of the model's crop, mean drop 1 − cos).\n")
    w("| model | " + " | ".join(s.split(":", 1)[1] for s in named) + " | most damaging | sweep peak |")
    w("|---|" + "---|" * (len(named) + 2))
    for m in models:
        r = occ.get(m)
        if not r: continue
        ps = {p["series"]: p for p in r["points"]}
        worst = min(ps.values(), key=lambda p: p["mean_similarity"])
        pk = (r.get("occlusion") or {}).get("peak") or {}
        peak = f"({pk['x']}, {pk['y']}) of {r['occlusion']['width']}×{r['occlusion']['height']}, drop {pk['drop']:.3f}" if "x" in pk else "–"
        w(f"| `{m}` | " + " | ".join(f"{ps[s]['mean_similarity']:.3f} ({pct(ps[s]['match_rate'])})" for s in named) +
          f" | {worst['series'].split(':', 1)[1]} | {peak} |")
    w("")

for kind in ("fgsm", "pgd"):
    if kind not in runs: continue
    a = runs[kind]["analysis"]
    w(f"## {kind.upper()}: attack success on the model it was crafted on, and transferred to the others\n")
    opts = a["results"][0]["options"]
    w(f"ε in grey levels of 0–255, {opts.get('steps')} step(s). Dodging succeeds when the face no longer matches its clean "
      "template; impersonation when it matches the target's (another test person). Transfer: the same perturbation carried "
      "to the other model's crop of the same photo.\n")
    for goal in ("dodge", "impersonate"):
        own = [r for r in a["results"] if any(p["series"].endswith(":" + goal) for p in r["points"])]
        if not own: continue
        eps = sorted({p["strength"] for r in own for p in r["points"]})
        w(f"**{goal}** — rows: crafted on; columns: success on each model at each ε (own model in bold)\n")
        w("| crafted on | ε | " + " | ".join(f"`{m}`" for m in models) + " |")
        w("|---|---|" + "---|" * len(models))
        for src in own:
            for e in eps:
                cells = []
                for m in models:
                    r = src if m == src["encoder"] else next((t for t in a["transfers"] if t["crafted_on"] == src["encoder"] and t["encoder"] == m
                                                             and any(p["series"].endswith(":" + goal) for p in t["points"])), None)
                    p = next((p for p in r["points"] if p["strength"] == e), None) if r else None
                    c = pct(success(p)) if p else "–"
                    cells.append(f"**{c}**" if m == src["encoder"] else c)
                w(f"| `{src['encoder']}` | {e:g} | " + " | ".join(cells) + " |")
        w("")

if "interpolate" in runs:
    w("## Interpolation: the path from one person's template to another's\n")
    w("Templates along the great circle from A to B in each model (the numbers are the templates', the decoders draw "
      "the path): the angle between the two people's templates, and the stretch of the path that still matches A, and "
      "that already matches B, at the model's threshold.\n")
    w("| model | A | B | angle A–B | matches A for t ≤ | matches B for t ≥ |")
    w("|---|---|---|---|---|---|")
    for r in results("interpolate"):
        pts = sorted(r["points"], key=lambda p: p["strength"])
        last_a = max((p["strength"] for p in pts if p["match"][0]), default=None)
        first_b = min((p["strength"] for p in pts if (p.get("similarity_to_self") or [0])[0] >= r["threshold"]), default=None)
        w(f"| `{r['encoder']}` | {r['inputs'][0]} | {r['inputs'][1]} | {r['options']['angle_degrees']:.1f}° | {num(last_a, '{:.3f}')} | {num(first_b, '{:.3f}')} |")
    w("")

# Figures: the side-by-side strips and heat maps, copied under a stable name.
w("## Figures\n")
wanted = [
    ("rotation", "compare-rotate-strip.png", "Rotation −60° … 60°: the input as the first model sees it, then each model's reconstruction."),
    ("translation", "compare-translate-x-strip.png", "Horizontal shift −20 … 20 px: input, then each model's reconstruction."),
    ("scale", "compare-scale-strip.png", "Zoom 0.6 … 1.4: input, then each model's reconstruction."),
    ("occlusion", "occlusion-heatmaps.png", "Occlusion heat maps, a row per model (brighter: a patch there lowers the similarity more)."),
    ("occlusion", "compare-named-occluders-strip.png", "Named occluders: input, then each model's reconstruction."),
    ("pgd", "transfer-dlib-resnet-pgd-dodge-strip.png", "PGD dodging crafted on dlib-resnet: per model, the attacked crop and its reconstruction."),
    ("interpolate", "compare-interpolate-strip.png", "From A to B along each model's template sphere: each model's reconstructions."),
]
for kind, png, caption in wanted:
    src = os.path.join(out, kind, png)
    if not os.path.exists(src): continue
    dst = f"{kind}-{png}"
    shutil.copyfile(src, os.path.join(figs, dst))
    w(f"{caption}\n\n![{caption}](findings/{dst})\n")
w("Commands (`$OUT`: the run folder): " + "; ".join("`" + runs[k]["analysis"]["provenance"]["command"].replace(os.path.abspath(out), "$OUT") + "`" for k in runs) + "\n")
open(os.path.join(docs, "findings.md"), "w").write("\n".join(md))
print("\n".join(md))
