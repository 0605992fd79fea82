import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { sparklinePng } from '../../src/notify/index.ts';

const { PNG } = pngjs;

type Image = { width: number; height: number; data: Buffer };

function decode(buf: Buffer): Image {
  return PNG.sync.read(buf);
}

/** Rows of the painted pixels in column x (alpha > 0). */
function paintedRows(img: Image, x: number): number[] {
  const rows: number[] = [];
  for (let y = 0; y < img.height; y++) if (img.data[(y * img.width + x) * 4 + 3]! > 0) rows.push(y);
  return rows;
}

function firstPaintedColumn(img: Image, fromRight = false): number {
  for (let i = 0; i < img.width; i++) {
    const x = fromRight ? img.width - 1 - i : i;
    if (paintedRows(img, x).length > 0) return x;
  }
  return -1;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('sparklinePng', () => {
  it('is a PNG of the requested size', () => {
    const img = decode(sparklinePng([1, 2, 3], { width: 90, height: 24 }));
    expect(img.width).toBe(90);
    expect(img.height).toBe(24);
  });

  it('draws a rising series ending higher in the image than it starts', () => {
    const img = decode(sparklinePng([1, 2, 3, 4, 5, 6], { width: 100, height: 30, color: '#ff0000' }));
    const left = firstPaintedColumn(img);
    const right = firstPaintedColumn(img, true);
    expect(left).toBeLessThan(5);
    expect(right).toBeGreaterThan(94);
    // Smaller y is higher up.
    expect(mean(paintedRows(img, right))).toBeLessThan(mean(paintedRows(img, left)) - 15);
    const [r, g, b, a] = img.data.subarray((paintedRows(img, 50)[0]! * img.width + 50) * 4);
    expect([r, g, b, a]).toEqual([255, 0, 0, 255]);
  });

  it('leaves a gap where values are null, and marks the last point with a dot', () => {
    const img = decode(sparklinePng([1, 1, null, null, 1, 1], { width: 101, height: 21 }));
    expect(paintedRows(img, 50)).toEqual([]);
    expect(paintedRows(img, 10).length).toBe(1);
    // The end dot is wider than the 1 px line.
    expect(paintedRows(img, 99).length).toBeGreaterThanOrEqual(3);
  });

  it('copes with a flat series, a single value and no data', () => {
    expect(paintedRows(decode(sparklinePng([5, 5, 5], { width: 40, height: 20 })), 20)).toEqual([10]);
    expect(firstPaintedColumn(decode(sparklinePng([7], { width: 40, height: 20 })))).toBeGreaterThan(15);
    expect(firstPaintedColumn(decode(sparklinePng([null, null], { width: 40, height: 20 })))).toBe(-1);
  });

  it('fills a background when asked, and rejects bad sizes and colours', () => {
    const img = decode(sparklinePng([], { width: 4, height: 4, background: '#fff' }));
    expect([...img.data.subarray(0, 4)]).toEqual([255, 255, 255, 255]);
    expect(() => sparklinePng([1], { width: 0 })).toThrow(RangeError);
    expect(() => sparklinePng([1], { color: 'red' })).toThrow(RangeError);
  });
});
