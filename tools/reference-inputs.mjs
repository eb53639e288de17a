// Inputs the reference scripts feed the original implementations (tfjs face-api, tfjs HSE FaceRes), shared so that
// every fixture set is made the same way: square RGB images, uint8 HWC row-major; and the helpers both fixture
// writers use (tools/faceapi-reference/make-fixtures.mjs, tools/hse-faceres-reference/make-fixtures.mjs).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CH = 3;

/** The checkout's root, and ../shared beside it (models and LFW, never in the repository). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');
export const lfwDir = process.env.LFW_DIR ?? path.join(sharedDir, 'data', 'lfw', 'lfw-deepfunneled');

export function assert(cond, msg) { if (!cond) throw new Error(`ASSERTION FAILED: ${msg}`); }

export const l2 = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
export const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (l2(a) * l2(b));
export const maxAbsDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/**
 * Bilinear resize of the square box (x0, y0, box) of an RGB image to size x size, pixel-centre aligned:
 * src = box_origin + (dst + 0.5) * box / size - 0.5, clamped to the image; value = round(bilinear of the 4 neighbours).
 */
export function cropResizeBilinear(rgb, width, height, x0, y0, box, size) {
  const out = new Uint8Array(size * size * CH);
  const s = box / size;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  for (let v = 0; v < size; v++) {
    const sy = clamp(y0 + (v + 0.5) * s - 0.5, 0, height - 1);
    const yA = Math.floor(sy); const yB = Math.min(yA + 1, height - 1); const fy = sy - yA;
    for (let u = 0; u < size; u++) {
      const sx = clamp(x0 + (u + 0.5) * s - 0.5, 0, width - 1);
      const xA = Math.floor(sx); const xB = Math.min(xA + 1, width - 1); const fx = sx - xA;
      for (let c = 0; c < CH; c++) {
        const p = (yy, xx) => rgb[(yy * width + xx) * CH + c];
        const top = p(yA, xA) * (1 - fx) + p(yA, xB) * fx;
        const bot = p(yB, xA) * (1 - fx) + p(yB, xB) * fx;
        out[(v * size + u) * CH + c] = Math.round(top * (1 - fy) + bot * fy);
      }
    }
  }
  return out;
}

/**
 * An LFW deep-funneled photo (250x250, the face about centred; NAME like George_W_Bush_0001) as a fixed square box
 * resized to size x size: a plausible face input for the comparison, not Dfd's alignment. `jpeg` is the caller's
 * jpeg-js: node finds packages from the importing file's folder, and each tool installs its own.
 */
export function lfwInput(jpeg, name, { x, y, box, size }) {
  const person = name.replace(/_\d{4}$/, '');
  const file = path.join(lfwDir, person, `${name}.jpg`);
  const { width, height, data } = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false });
  assert(data.length === width * height * CH, `${file}: decoded size`);
  return cropResizeBilinear(data, width, height, x, y, box, size);
}

/** An RGB image of side `size` whose pixel (x, y) is fn(x, y) = [r, g, b]. */
export function makeImage(size, fn) {
  const img = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [r, g, b] = fn(x, y);
      const i = (y * size + x) * 3;
      img[i] = r; img[i + 1] = g; img[i + 2] = b;
    }
  }
  return img;
}

/** mulberry32: a small deterministic PRNG, floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The synthetic patterns: colour ramps (R left→right, G top→bottom, B along the diagonal), a checkerboard of two
 * colours with `checker`-pixel squares, uniform noise (bytes in HWC order from mulberry32(20240601)), and, when
 * `constant` is true, one flat colour.
 */
export function syntheticInputs(size, { checker = 10, constant = false } = {}) {
  const rand = mulberry32(20240601);
  const inputs = {
    'synthetic-gradient': makeImage(size, (x, y) => [
      Math.round((x * 255) / (size - 1)),
      Math.round((y * 255) / (size - 1)),
      Math.round(((x + y) * 255) / (2 * (size - 1))),
    ]),
    'synthetic-checker': makeImage(size, (x, y) => ((Math.floor(x / checker) + Math.floor(y / checker)) % 2 === 0
      ? [230, 200, 170] : [30, 60, 110])),
    'synthetic-noise': makeImage(size, () => [0, 0, 0].map(() => Math.floor(rand() * 256))),
  };
  if (constant) inputs['synthetic-constant'] = makeImage(size, () => [128, 96, 64]);
  return inputs;
}
