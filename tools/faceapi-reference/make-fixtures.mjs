// Generates reference fixtures for the C# port of dlib's face-recognition ResNet
// from the ORIGINAL face-api implementation (@vladmandic/face-api, tfjs CPU backend).
//
//   cd tools/faceapi-reference && npm install && node make-fixtures.mjs
//
// Writes into tests/Dfd.Tests/Fixtures/faceapi/:
//   *.rgb             150x150x3 uint8 RGB, HWC row-major, raw bytes (67500 bytes each)
//   descriptors.json  the 128-d output of faceRecognitionNet for every .rgb input
//
// Environment overrides: FACEAPI_MODEL_DIR (dir with face_recognition_model-weights_manifest.json
// and face_recognition_model.bin), LFW_DIR (lfw-deepfunneled root).
//
// face-api.node-wasm.js is the node build that runs on plain @tensorflow/tfjs (it also
// require()s @tensorflow/tfjs-backend-wasm, which is installed only so that the require
// succeeds; the wasm backend is NOT used, the backend is forced to 'cpu' below).

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { syntheticInputs } from '../reference-inputs.mjs';

const tf = faceapi.tf; // the @tensorflow/tfjs instance face-api itself uses

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const outDir = path.join(repoRoot, 'tests', 'Dfd.Tests', 'Fixtures', 'faceapi');
const modelDir = process.env.FACEAPI_MODEL_DIR ?? '/work/shared/models/face-api';
const lfwDir = process.env.LFW_DIR ?? '/work/shared/data/lfw/lfw-deepfunneled';

const SIZE = 150;
const CH = 3;

// ---------------------------------------------------------------- inputs

// LFW deep-funneled images are 250x250 with the face roughly centred.
// Fixed square crop: CROP x CROP box with top-left (CROP_X, CROP_Y), resized to 150x150.
const CROP_X = 60;
const CROP_Y = 68;
const CROP = 130;
const LFW_IMAGES = [
  'George_W_Bush_0001',
  'George_W_Bush_0002',
  'Aaron_Peirsol_0001',
  'Aaron_Peirsol_0002',
];

// Bilinear resize of the crop box, pixel-centre aligned:
//   src = box_origin + (dst + 0.5) * box_size / 150 - 0.5, clamped to the image,
//   value = round(bilinear interpolation of the 4 neighbours).
function cropResizeBilinear(rgb, width, height, x0, y0, box) {
  const out = new Uint8Array(SIZE * SIZE * CH);
  const s = box / SIZE;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  for (let v = 0; v < SIZE; v++) {
    const sy = clamp(y0 + (v + 0.5) * s - 0.5, 0, height - 1);
    const yA = Math.floor(sy);
    const yB = Math.min(yA + 1, height - 1);
    const fy = sy - yA;
    for (let u = 0; u < SIZE; u++) {
      const sx = clamp(x0 + (u + 0.5) * s - 0.5, 0, width - 1);
      const xA = Math.floor(sx);
      const xB = Math.min(xA + 1, width - 1);
      const fx = sx - xA;
      for (let c = 0; c < CH; c++) {
        const p = (yy, xx) => rgb[(yy * width + xx) * CH + c];
        const top = p(yA, xA) * (1 - fx) + p(yA, xB) * fx;
        const bot = p(yB, xA) * (1 - fx) + p(yB, xB) * fx;
        out[(v * SIZE + u) * CH + c] = Math.round(top * (1 - fy) + bot * fy);
      }
    }
  }
  return out;
}

function lfwInput(name) {
  const person = name.replace(/_\d{4}$/, '');
  const file = path.join(lfwDir, person, `${name}.jpg`);
  const { width, height, data } = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false });
  if (data.length !== width * height * CH) throw new Error(`${file}: unexpected decoded size`);
  return cropResizeBilinear(data, width, height, CROP_X, CROP_Y, CROP);
}

// ---------------------------------------------------------------- helpers

const l2 = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (l2(a) * l2(b));
const maxAbsDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
function assert(cond, msg) { if (!cond) throw new Error(`ASSERTION FAILED: ${msg}`); }

// ---------------------------------------------------------------- main

await tf.setBackend('cpu');
await tf.ready();
assert(tf.getBackend() === 'cpu', 'tfjs backend is cpu');

const net = faceapi.nets.faceRecognitionNet;
await net.loadFromDisk(modelDir); // face-api's own loader: manifest + .bin, uint8 de-quantisation by tfjs
assert(net.isLoaded, 'faceRecognitionNet loaded');

// 10×10 px checkerboard; the constant image too.
const inputs = { ...syntheticInputs(SIZE, { checker: 10, constant: true }) };
for (const name of LFW_IMAGES) inputs[`lfw-${name}`] = lfwInput(name);

fs.mkdirSync(outDir, { recursive: true });
const names = Object.keys(inputs);
for (const name of names) {
  assert(inputs[name].length === SIZE * SIZE * CH, `${name} has 67500 bytes`);
  fs.writeFileSync(path.join(outDir, `${name}.rgb`), inputs[name]);
}

// Re-read the files so the descriptors are computed from exactly what is on disk.
const tensors = names.map((name) => tf.tensor3d(
  new Int32Array(fs.readFileSync(path.join(outDir, `${name}.rgb`))), [SIZE, SIZE, CH], 'int32',
));

// 1) one call per image through the public API
const single = [];
for (const t of tensors) single.push(Array.from(await net.computeFaceDescriptor(t)));

// 2) one batch [N,150,150,3] through NetInput/forwardInput. (toNetInput rejects a
//    Tensor4D with N > 1, so the batch is handed over as its N slices, which NetInput
//    stacks back into [N,150,150,3] in toBatchTensor.)
const batch = tf.stack(tensors); // int32 [N,150,150,3]
const netInput = await faceapi.toNetInput(tf.unstack(batch));
const fed = netInput.toBatchTensor(SIZE, true); // what forwardInput feeds into the network
assert(fed.shape.join() === [names.length, SIZE, SIZE, CH].join(), `fed shape ${fed.shape}`);
const fedDiff = tf.max(tf.abs(tf.sub(fed, tf.cast(batch, 'float32')))).dataSync()[0];
assert(fedDiff === 0, `toBatchTensor is a no-op for 150x150 input (max diff ${fedDiff})`);
const batchOut = net.forwardInput(netInput);
assert(batchOut.shape.join() === [names.length, 128].join(), `batch output shape ${batchOut.shape}`);
const batched = batchOut.arraySync();

let worstBatchDiff = 0;
names.forEach((name, i) => {
  assert(single[i].length === 128, `${name}: descriptor has 128 values`);
  assert(single[i].every(Number.isFinite), `${name}: descriptor is finite`);
  worstBatchDiff = Math.max(worstBatchDiff, maxAbsDiff(single[i], batched[i]));
});
assert(worstBatchDiff <= 1e-5, `batch vs single max abs diff ${worstBatchDiff} <= 1e-5`);

const result = {
  model: 'face-api 1.7.15 faceRecognitionNet',
  tfjs: tf.version.tfjs,
  backend: tf.getBackend(),
  input_format: '150x150x3 uint8 RGB HWC raw',
  weights: 'face_recognition_model-weights_manifest.json + face_recognition_model.bin (uint8-quantised, de-quantised by tfjs as q*scale+min)',
  preprocessing: 'x = (float(rgb) - [122.782, 117.001, 104.298]) / 255; no resize/pad for 150x150 input',
  batch_vs_single_max_abs_diff: worstBatchDiff,
  items: names.map((name, i) => ({
    input: `${name}.rgb`,
    sha256: crypto.createHash('sha256').update(inputs[name]).digest('hex'),
    l2_norm: l2(single[i]),
    descriptor: single[i], // JS doubles holding float32 values exactly
  })),
};
fs.writeFileSync(path.join(outDir, 'descriptors.json'), `${JSON.stringify(result, null, 1)}\n`);

// ---------------------------------------------------------------- report
console.log(`face-api ${faceapi.version} tfjs ${tf.version.tfjs} backend ${tf.getBackend()}`);
console.log(`toBatchTensor max |fed - input| = ${fedDiff}; batch vs single max abs diff = ${worstBatchDiff}`);
console.log('L2 norms:');
names.forEach((name, i) => console.log(`  ${name.padEnd(28)} ${l2(single[i]).toFixed(6)}`));
const lfw = names.filter((n) => n.startsWith('lfw-'));
console.log('cosine similarity between LFW inputs:');
for (let a = 0; a < lfw.length; a++) {
  for (let b = a + 1; b < lfw.length; b++) {
    const ia = names.indexOf(lfw[a]); const ib = names.indexOf(lfw[b]);
    const same = lfw[a].replace(/_\d{4}$/, '') === lfw[b].replace(/_\d{4}$/, '');
    console.log(`  ${same ? 'same' : 'diff'}  ${lfw[a]} vs ${lfw[b]}: cos ${cosine(single[ia], single[ib]).toFixed(4)}`
      + `  euclid ${Math.sqrt(single[ia].reduce((s, x, k) => s + (x - single[ib][k]) ** 2, 0)).toFixed(4)}`);
  }
}
console.log(`wrote ${names.length} inputs + descriptors.json to ${path.relative(repoRoot, outDir)}`);
