// A small hand-written tfjs graph model with random weights that exercises the importer beyond what HSE FaceRes uses:
// uint8/uint16/float16-quantised and int32 weights, _FusedConv2D and FusedDepthwiseConv2dNative with fused
// activations, MaxPool (its SAME padding asymmetric: the odd pixel at the end) and AvgPool with SAME
// padding, ConcatV2, Pad, FusedBatchNormV3, Reshape, _FusedMatMul, Softmax, Mean and elementwise operators.
// tfjs itself (4.22.0, CPU backend, its graph-model loader and executor) computes the reference outputs.
//
//   cd tools/hse-faceres-reference && npm install && node make-synthetic-graph.mjs
//
// Writes tests/Dfd.Tests/Fixtures/tfjs-graph/: model.json, model.bin (the graph; random weights made here) and
// outputs.json (the input and tfjs's outputs).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../reference-inputs.mjs';
import * as tf from '@tensorflow/tfjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, '..', '..', 'tests', 'Dfd.Tests', 'Fixtures', 'tfjs-graph');

const rand = mulberry32(1234);
const b64 = (s) => Buffer.from(s).toString('base64');
const ints = (...v) => ({ list: { i: v.map(String) } });
const str = (s) => ({ s: b64(s) });
const F = { T: { type: 'DT_FLOAT' } };

const nodes = [];
const weights = [];
const chunks = [];
function node(name, op, input, attr = {}) { nodes.push({ name, op, input, attr: { ...F, ...attr } }); return name; }

// Const with values stored as `stored` (float32, int32, uint8, uint16, float16).
function konst(name, shape, stored, values) {
  const isInt = stored === 'int32';
  nodes.push({ name, op: 'Const', attr: { dtype: { type: isInt ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: isInt ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: shape.map((s) => ({ size: String(s) })) } } } } });
  const spec = { name, shape, dtype: isInt ? 'int32' : 'float32' };
  if (stored === 'float32') chunks.push(Buffer.from(Float32Array.from(values).buffer));
  else if (stored === 'int32') chunks.push(Buffer.from(Int32Array.from(values).buffer));
  else if (stored === 'float16') {
    spec.quantization = { dtype: 'float16', original_dtype: 'float32' };
    const h = new Uint16Array(values.length);
    const f = new Float32Array(1); const u = new Uint32Array(f.buffer);
    values.forEach((v, i) => {   // float32 -> half, round to nearest (normal range only, as these values are)
      f[0] = v; const x = u[0];
      const sign = (x >>> 16) & 0x8000; const exp = ((x >>> 23) & 0xff) - 127 + 15; let mant = x & 0x7fffff;
      if (exp <= 0) { h[i] = sign; return; }
      let r = (exp << 10) | (mant >>> 13);
      if ((mant & 0x1fff) > 0x1000 || ((mant & 0x1fff) === 0x1000 && (r & 1))) r++;
      h[i] = sign | r;
    });
    chunks.push(Buffer.from(h.buffer));
  } else {
    const levels = stored === 'uint8' ? 255 : 65535;
    const min = Math.min(...values); const max = Math.max(...values);
    const scale = (max - min) / levels;
    spec.quantization = { dtype: stored, min, scale, original_dtype: 'float32' };
    const q = (stored === 'uint8' ? Uint8Array : Uint16Array).from(values, (v) => Math.round((v - min) / scale));
    chunks.push(Buffer.from(q.buffer));
  }
  weights.push(spec);
  return name;
}
const randn = (n, s = 1) => Array.from({ length: n }, () => (rand() * 2 - 1) * s);

nodes.push({ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '9' }, { size: '9' }, { size: '3' }] } } } });
const conv = { data_format: str('NHWC'), dilations: ints(1, 1, 1, 1), explicit_paddings: { list: {} } };
const c1 = node('c1', '_FusedConv2D', ['x', konst('w1', [3, 3, 3, 4], 'uint8', randn(108, 0.5)), konst('b1', [4], 'uint16', randn(4, 0.3))],
  { ...conv, strides: ints(1, 2, 2, 1), padding: str('SAME'), fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } }, num_args: { i: '1' }, epsilon: { f: 0 } });
const c2 = node('c2', 'FusedDepthwiseConv2dNative', [c1, konst('dw', [3, 3, 4, 2], 'float16', randn(72, 0.5)), konst('db', [8], 'float32', randn(8, 0.2))],
  { ...conv, strides: ints(1, 1, 1, 1), padding: str('SAME'), fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } }, num_args: { i: '1' } });
const p1 = node('p1', 'MaxPool', [c2], { data_format: str('NHWC'), ksize: ints(1, 2, 2, 1), strides: ints(1, 2, 2, 1), padding: str('SAME') });
const p2 = node('p2', 'AvgPool', [c2], { data_format: str('NHWC'), ksize: ints(1, 3, 3, 1), strides: ints(1, 2, 2, 1), padding: str('SAME') });
const cat = node('cat', 'ConcatV2', [p1, p2, konst('cat_axis', [], 'int32', [-1])], { N: { i: '2' }, Tidx: { type: 'DT_INT32' } });
const pad = node('pad', 'Pad', [cat, konst('paddings', [4, 2], 'int32', [0, 0, 1, 0, 0, 1, 0, 0])], { Tpaddings: { type: 'DT_INT32' } });
const c3 = node('c3', 'Conv2D', [pad, konst('w3', [2, 2, 16, 4], 'float32', randn(256, 0.3))], { ...conv, strides: ints(1, 1, 1, 1), padding: str('VALID') });
const bn = node('bn', 'FusedBatchNormV3', [c3, konst('bn_scale', [4], 'float32', randn(4)), konst('bn_offset', [4], 'float32', randn(4)),
  konst('bn_mean', [4], 'float32', randn(4, 0.5)), konst('bn_var', [4], 'float32', randn(4).map((v) => Math.abs(v) + 0.1))],
  { epsilon: { f: 0.001 }, data_format: str('NHWC'), is_training: { b: false }, U: { type: 'DT_FLOAT' } });
const flat = node('flat', 'Reshape', [bn, konst('flat_shape', [2], 'int32', [-1, 36])], { Tshape: { type: 'DT_INT32' } });
const mm = node('mm', '_FusedMatMul', [flat, konst('wm', [36, 5], 'float32', randn(180, 0.3)), konst('bm', [5], 'float32', randn(5, 0.1))],
  { transpose_a: { b: false }, transpose_b: { b: false }, fused_ops: { list: { s: [b64('BiasAdd'), b64('LeakyRelu')] } }, num_args: { i: '1' }, leakyrelu_alpha: { f: 0.1 }, epsilon: { f: 0 } });
node('probs', 'Softmax', [mm]);
const mean = node('mean', 'Mean', [c2, konst('mean_axes', [2], 'int32', [1, 2])], { keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } });
const sub = node('sub', 'Sub', [mean, konst('centre', [8], 'float32', randn(8, 0.5))]);
const mul = node('mul', 'Mul', [sub, konst('gain', [], 'float32', [1.7])]);
const clip = node('clip', 'Minimum', [node('mx', 'Maximum', [mul, konst('lo', [], 'float32', [-0.4])]), konst('hi', [], 'float32', [0.6])]);
node('feat', 'Sigmoid', [node('add', 'AddV2', [clip, node('sq', 'Square', [mean])])]);

const json = {
  format: 'graph-model',
  generatedBy: 'tools/hse-faceres-reference/make-synthetic-graph.mjs',
  convertedBy: 'hand-written',
  signature: {
    inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '9' }, { size: '9' }, { size: '3' }] } } },
    outputs: { 'probs:0': { name: 'probs:0', dtype: 'DT_FLOAT' }, 'feat:0': { name: 'feat:0', dtype: 'DT_FLOAT' } },
  },
  modelTopology: { node: nodes, library: {}, versions: {} },
  weightsManifest: [{ paths: ['model.bin'], weights }],
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'model.json'), `${JSON.stringify(json, null, 1)}\n`);
const bin = Buffer.concat(chunks);
fs.writeFileSync(path.join(outDir, 'model.bin'), bin);

await tf.setBackend('cpu');
await tf.ready();
const model = await tf.loadGraphModel({
  load: async () => ({
    modelTopology: json.modelTopology, format: json.format, signature: json.signature,
    weightSpecs: weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  }),
});
const input = Array.from({ length: 2 * 9 * 9 * 3 }, () => Math.round(rand() * 2550) / 10);   // a batch of 2, 0..255
const x = tf.tensor4d(input, [2, 9, 9, 3]);
const [probs, feat] = model.execute(x, ['probs', 'feat']);
const out = { tfjs: tf.version.tfjs, backend: tf.getBackend(), input_shape: [2, 9, 9, 3], input,
  outputs: { probs: { shape: probs.shape, values: Array.from(probs.dataSync()) }, feat: { shape: feat.shape, values: Array.from(feat.dataSync()) } } };
fs.writeFileSync(path.join(outDir, 'outputs.json'), `${JSON.stringify(out)}\n`);
console.log(`probs ${probs.shape} ${Array.from(probs.dataSync()).map((v) => v.toFixed(4))}`);
console.log(`feat ${feat.shape} ${Array.from(feat.dataSync()).map((v) => v.toFixed(4))}`);
