// Inputs the reference scripts feed the original implementations (tfjs face-api, tfjs HSE FaceRes), shared so that
// every fixture set is made the same way: square RGB images, uint8 HWC row-major.

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
