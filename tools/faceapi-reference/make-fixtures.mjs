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
import jpeg from 'jpeg-js';
import faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { assert, cosine, l2, lfwInput, maxAbsDiff, repoRoot, sharedDir, syntheticInputs } from '../reference-inputs.mjs';

const tf = faceapi.tf; // the @tensorflow/tfjs instance face-api itself uses

const outDir = path.join(repoRoot, 'tests', 'Dfd.Tests', 'Fixtures', 'faceapi');
const modelDir = process.env.FACEAPI_MODEL_DIR ?? path.join(sharedDir, 'models', 'face-api');

const SIZE = 150;
const CH = 3;

// ---------------------------------------------------------------- inputs

// LFW deep-funneled images are 250x250 with the face roughly centred: a fixed 130 px box at (60, 68), resized to 150.
const LFW_BOX = { x: 60, y: 68, box: 130, size: SIZE };
const LFW_IMAGES = [
  'George_W_Bush_0001',
  'George_W_Bush_0002',
  'Aaron_Peirsol_0001',
  'Aaron_Peirsol_0002',
];

// ---------------------------------------------------------------- main

await tf.setBackend('cpu');
await tf.ready();
assert(tf.getBackend() === 'cpu', 'tfjs backend is cpu');

const net = faceapi.nets.faceRecognitionNet;
await net.loadFromDisk(modelDir); // face-api's own loader: manifest + .bin, uint8 de-quantisation by tfjs
assert(net.isLoaded, 'faceRecognitionNet loaded');

// 10×10 px checkerboard; the constant image too.
const inputs = { ...syntheticInputs(SIZE, { checker: 10, constant: true }) };
for (const name of LFW_IMAGES) inputs[`lfw-${name}`] = lfwInput(jpeg, name, LFW_BOX);

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
