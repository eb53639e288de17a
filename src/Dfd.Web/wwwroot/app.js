// dfd serve's page: plain JS, no build step. Every control sends one JSON request; while one is on its way, later
// changes wait and only the newest is sent (so a moving slider never floods the server's queue).
"use strict";
const $ = id => document.getElementById(id);
const client = Math.random().toString(36).slice(2);   // per tab: the server's queue is fair between clients
let info = null;
const loaded = [];          // faces loaded this session: {id, name}
let face = null;            // the current face record
const last = {};            // last response per view, for Save JSON / PNG
const choice = {};          // the decoder kind per encoder whose column offers a choice ("regression" / "sharp")

// Every request that returns reconstructions says which decoder each column draws with: in the body, or in the query.
const decoders = () => ({ ...choice });
const decoderQuery = () => Object.entries(choice).map(([e, k]) => `${encodeURIComponent(e)}:${k}`).join(",");
const withDecoders = path => { const q = decoderQuery(); return q ? `${path}${path.includes("?") ? "&" : "?"}decoders=${q}` : path; };

async function api(path, body, raw) {
  const opts = { method: body === undefined ? "GET" : "POST", headers: { "X-Dfd-Client": client } };
  if (body !== undefined) {
    if (raw) { opts.body = body; opts.headers["Content-Type"] = "application/octet-stream"; }
    else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  }
  const r = await fetch(path, opts);
  const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
  return j;
}

function status(msg, error) {
  const s = $("status");
  s.textContent = msg || "";
  s.className = error ? "error" : "";
}

// Newest-wins: run(fn) while busy just marks that another run is wanted.
function live(fn) {
  let busy = false, again = false;
  const run = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try { await fn(); } catch (e) { status(e.message, true); }
    finally { busy = false; if (again) { again = false; run(); } }
  };
  return run;
}

const fmt = x => x == null ? "–" : x.toFixed(4);
function verdict(m) { return m == null ? "" : m ? '<span class="match">match</span>' : '<span class="nomatch">no match</span>'; }
function fig(src, caption, id, cls, note) {
  if (!src) return `<figure><figcaption>${caption}: no decoder</figcaption></figure>`;
  return `<figure><img class="crop ${cls || ""}" ${id ? `id="${id}"` : ""} src="${src}" alt="${caption}"><figcaption>${caption}${note || ""}</figcaption></figure>`;
}
// A reconstruction, captioned with the decoder that drew it.
function recon(src, caption, decoder, id) {
  return fig(src, caption, id, "", decoder ? ` (<span class="drawn-by">${decoder} decoder</span>)` : "");
}
// One encoder's cell of a section's row of columns.
const cell = (encoder, html) => `<div class="model" data-encoder="${encoder}">${html}</div>`;

async function init() {
  info = await api("/api/info");
  $("encoders").textContent = "encoders: " + info.encoders.map(e => e.name + (e.decoder ? "" : " (no decoder)")).join(", ") +
    (info.side_by_side ? " — side by side" : "");
  document.documentElement.style.setProperty("--n", info.encoders.length);
  for (const e of info.encoders) if (e.decoders.length > 1) choice[e.name] = e.decoders[0];
  for (const s of info.samples) $("sample").add(new Option(s.replace(/\.[^.]+$/, ""), s));
  for (const o of info.occluders) $("occluder").add(new Option(o, o));
  const L = info.limits;
  const range = (id, r) => { $(id).min = r[0]; $(id).max = r[1]; };
  range("rotation", L.rotation); range("shift-x", L.shift); range("shift-y", L.shift); range("scale", L.scale);
  range("epsilon", L.epsilon); range("steps", L.steps); range("amplify", L.amplify);
  $("occ-size").max = Math.max(info.encoders[0].input_width, info.encoders[0].input_height);
  $("load-sample").onclick = () => loadFace(() => api("/api/faces/sample", { name: $("sample").value, decoders: decoders() }));
  $("upload").onchange = e => { if (e.target.files[0]) upload(e.target.files[0]); };
  const drop = $("drop");
  drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = e => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); };
  for (const [id, f] of [["rotation", v => `${v}°`], ["shift-x", v => `${v} px`], ["shift-y", v => `${v} px`], ["scale", v => `×${(+v).toFixed(2)}`], ["occ-size", v => `${v} px`]])
    $(id).oninput = () => { $(id + "-v").textContent = f($(id).value); perturb(); };
  $("occluder").onchange = perturb;
  $("occ-colour").oninput = perturb;
  $("reset").onclick = () => {
    for (const [id, v] of [["rotation", 0], ["shift-x", 0], ["shift-y", 0], ["scale", 1]]) { $(id).value = v; $(id).oninput(); }
    $("occluder").value = ""; perturb();
  };
  $("heatmap-btn").onclick = heatmap;
  for (const [id, f] of [["epsilon", v => v], ["steps", v => v], ["amplify", v => v]])
    $(id).oninput = () => { $(id + "-v").textContent = f($(id).value); attack(); };
  for (const id of ["method", "goal", "target"]) $(id).onchange = attack;
  $("interp-t").oninput = () => { $("interp-t-v").textContent = (+$("interp-t").value).toFixed(2); interpolate(); };
  for (const id of ["interp-a", "interp-b"]) $(id).onchange = interpolate;
  for (const b of document.querySelectorAll("[data-save-png]")) b.onclick = () => savePng(b.dataset.savePng);
  for (const b of document.querySelectorAll("[data-save-json]")) b.onclick = () => saveJson(b.dataset.saveJson);
  status("pick a sample or drop a photo");
}

async function upload(file) {
  if (file.size > info.max_upload_bytes) { status(`${file.name}: larger than ${info.max_upload_bytes / 1048576} MB`, true); return; }
  await loadFace(() => api(withDecoders("/api/faces?name=" + encodeURIComponent(file.name)), file, true));
}

async function loadFace(get) {
  status("loading…");
  try {
    const f = await get();
    if (!loaded.some(x => x.id === f.id)) loaded.push({ id: f.id, name: f.name });
    showFace(f);
    status(`${f.name}: ${f.faces.length} face(s) found`);
  } catch (e) { status(e.message, true); }
}

function showFace(f) {
  face = f;
  for (const id of ["face-view", "explore", "attack", "interp"]) $(id).hidden = false;
  $("face-name").textContent = f.name;
  $("photo").src = f.photo;
  const s = f.photo_width / f.width, svg = $("overlay");
  svg.setAttribute("viewBox", `0 0 ${f.photo_width} ${f.photo_height}`);
  svg.innerHTML = f.faces.map((d, i) =>
    `<rect data-i="${i}" class="${i === f.pick ? "picked" : ""}" x="${d.x * s}" y="${d.y * s}" width="${d.width * s}" height="${d.height * s}"></rect>` +
    d.landmarks.map(p => `<circle cx="${p[0] * s}" cy="${p[1] * s}" r="2.5"></circle>`).join("")).join("");
  for (const r of svg.querySelectorAll("rect")) r.onclick = () => loadFace(() => api(`/api/faces/${face.id}/pick`, { index: +r.dataset.i, decoders: decoders() }));
  // Each column's head: the encoder, and its decoder (a choice where it has a sharp one beside the regression one).
  $("clean").innerHTML = f.encoders.map((e, k) => {
    const kinds = info.encoders[k].decoders;
    const pickDecoder = kinds.length > 1
      ? `<label>decoder <select class="decoder" data-encoder="${e.encoder}">${kinds.map(d => `<option value="${d}" ${d === choice[e.encoder] ? "selected" : ""}>${d}</option>`).join("")}</select></label>`
      : `<span class="kind">${kinds.length ? kinds[0] + " decoder" : "no decoder"}</span>`;
    return cell(e.encoder, `<h3>${e.encoder} ${pickDecoder}</h3>${fig(e.crop, "aligned crop")}${recon(e.reconstruction, "reconstruction", e.decoder, `clean-recon-${k}`)}` +
      `<p class="numbers">reconstruction vs crop: ${fmt(e.reconstruction_cosine)} ${verdict(e.reconstruction_match)}</p>`);
  }).join("");
  for (const s of $("clean").querySelectorAll("select.decoder"))
    s.onchange = () => { choice[s.dataset.encoder] = s.value; loadFace(() => api(withDecoders(`/api/faces/${face.id}`))); };
  $("faces").innerHTML = loaded.map(x => `<button data-id="${x.id}" class="${x.id === f.id ? "current" : ""}">${x.name}</button>`).join("");
  for (const b of $("faces").querySelectorAll("button")) b.onclick = () => loadFace(() => api(withDecoders(`/api/faces/${b.dataset.id}`)));
  for (const id of ["target", "interp-a", "interp-b"]) {
    const sel = $(id), keep = sel.value;
    sel.innerHTML = "";
    for (const x of loaded) sel.add(new Option(x.name, x.id));
    if (keep && loaded.some(x => x.id === keep)) sel.value = keep;
  }
  if (!$("interp-b").value || $("interp-b").value === $("interp-a").value) $("interp-b").value = loaded.length > 1 ? loaded[loaded.length - 2].id : f.id;
  $("interp-a").value = f.id;
  for (const id of ["explore-out", "heatmap-out", "attack-out"]) $(id).innerHTML = "";
  perturb(); attack(); interpolate();
}

let occ = { x: 60, y: 60 };
function occluder() {
  const v = $("occluder").value, colour = $("occ-colour").value;
  if (!v) return null;
  if (v === "drag") return { x: Math.round(occ.x), y: Math.round(occ.y), size: +$("occ-size").value, colour };
  return { name: v, colour };
}

const perturb = live(async () => {
  if (!face) return;
  const req = { face: face.id, rotation: +$("rotation").value, shift_x: +$("shift-x").value, shift_y: +$("shift-y").value,
    scale: +$("scale").value, occluder: occluder(), decoders: decoders() };
  const r = await api("/api/perturb", req);
  if (r.face !== face.id) return;   // another face was picked meanwhile; its own request follows
  last.explore = r;
  $("explore-out").innerHTML = r.results.map((o, k) => cell(o.encoder,
    fig(o.image, o.encoder + ": perturbed crop", `perturb-image-${k}`, "draggable") + recon(o.reconstruction, "reconstruction of its template", o.decoder, `perturb-recon-${k}`) +
    `<p class="numbers">cosine to clean: <b id="perturb-cos-${k}">${fmt(o.cosine)}</b> ${verdict(o.match)} (threshold ${fmt(o.threshold)})</p>`)).join("");
  for (const img of $("explore-out").querySelectorAll("img.draggable")) dragOccluder(img);
  status("");
});

function dragOccluder(img) {
  const w = info.encoders[0].input_width, h = info.encoders[0].input_height;
  const at = e => {
    const b = img.getBoundingClientRect(), size = +$("occ-size").value;
    occ = { x: Math.max(1 - size, Math.min(w - 1, (e.clientX - b.left) / b.width * w - size / 2)),
            y: Math.max(1 - size, Math.min(h - 1, (e.clientY - b.top) / b.height * h - size / 2)) };
    $("occluder").value = "drag";
    perturb();
  };
  img.onpointerdown = e => { e.preventDefault(); img.setPointerCapture(e.pointerId); at(e); };
  img.onpointermove = e => { if (e.buttons) at(e); };
}

async function heatmap() {
  if (!face) return;
  status("heat map: sweeping a patch over the crop…");
  try {
    const r = await api("/api/heatmap", { face: face.id, patch: 30, stride: 10, colour: $("occ-colour").value });
    last.heatmap = r;
    $("heatmap-out").innerHTML = r.results.map(h => cell(h.encoder, fig(h.image, h.encoder + ": cosine drop per pixel (30 px patch)") +
      `<p class="numbers">peak drop ${fmt(h.peak.drop)} at (${h.peak.x}, ${h.peak.y})</p>`)).join("");
    status("");
  } catch (e) { status(e.message, true); }
}

const attack = live(async () => {
  if (!face) return;
  const goal = $("goal").value;
  $("steps").disabled = $("method").value === "fgsm";
  $("target").disabled = goal !== "impersonate";
  const req = { face: face.id, method: $("method").value, goal, epsilon: +$("epsilon").value, steps: +$("steps").value, amplify: +$("amplify").value,
    decoders: decoders() };
  if (goal === "impersonate") req.target = $("target").value;
  const r = await api("/api/attack", req);
  if (r.face !== face.id) return;
  last.attack = r;
  $("attack-out").innerHTML = r.results.map(a => cell(a.result.encoder, fig(a.result.image, a.result.encoder + ": adversarial crop") +
    fig(a.difference, `difference ×${r.amplify}`) + recon(a.result.reconstruction, "reconstruction of its template", a.result.decoder) +
    `<p class="numbers">cosine to clean: ${fmt(a.result.cosine)} ${verdict(a.result.match)}` +
    (a.target_cosine != null ? `<br>cosine to target: ${fmt(a.target_cosine)} ${verdict(a.target_match)}` : "") + `</p>`)).join("");
});

const interpolate = live(async () => {
  const a = $("interp-a").value, b = $("interp-b").value;
  if (!a || !b) return;
  const r = await api("/api/interpolate", { a, b, t: +$("interp-t").value, decoders: decoders() });
  last.interp = r;
  $("interp-out").innerHTML = r.results.map(p => cell(p.encoder, recon(p.reconstruction, `${p.encoder}: ${(r.t * 100).toFixed(0)}% of the way from A to B`, p.decoder) +
    `<p class="numbers">cosine to A: ${fmt(p.cosine_a)} ${verdict(p.match_a)}<br>cosine to B: ${fmt(p.cosine_b)} ${verdict(p.match_b)}</p>`)).join("");
});

// Save: the view's images side by side as one PNG (drawn here, nothing sent), its numbers as JSON without the images.
function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function viewImages(view) {
  const out = { explore: ["explore-out", "heatmap-out"], attack: ["attack-out"], interp: ["interp-out"] }[view];
  return out.flatMap(id => [...$(id).querySelectorAll("img")]);
}

function savePng(view) {
  const imgs = viewImages(view);
  if (!imgs.length) return;
  const gap = 4, h = Math.max(...imgs.map(i => i.naturalHeight));
  const c = document.createElement("canvas");
  c.width = imgs.reduce((s, i) => s + i.naturalWidth + gap, -gap); c.height = h;
  const g = c.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
  let x = 0;
  for (const i of imgs) { g.drawImage(i, x, 0); x += i.naturalWidth + gap; }
  c.toBlob(b => download(b, `dfd-${view}.png`), "image/png");
}

function saveJson(view) {
  const data = view === "explore" ? { perturb: last.explore, heatmap: last.heatmap } : last[view];
  if (!data) return;
  const strip = JSON.stringify(data, (k, v) => typeof v === "string" && v.startsWith("data:") ? undefined : v, 2);
  download(new Blob([strip], { type: "application/json" }), `dfd-${view}.json`);
}

init().catch(e => status(e.message, true));
