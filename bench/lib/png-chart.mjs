import { crc32, deflateSync } from 'node:zlib';

/**
 * Horizontal grouped bar charts as PNG, with no native dependency: an RGB canvas, a 5x7 bitmap
 * font (upper case) and the PNG container written by hand (zlib from Node itself).
 */
const GLYPHS = {
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  B: ['11110', '10001', '10001', '11110', '10001', '10001', '11110'],
  C: ['01110', '10001', '10000', '10000', '10000', '10001', '01110'],
  D: ['11110', '10001', '10001', '10001', '10001', '10001', '11110'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  F: ['11111', '10000', '10000', '11110', '10000', '10000', '10000'],
  G: ['01110', '10001', '10000', '10111', '10001', '10001', '01111'],
  H: ['10001', '10001', '10001', '11111', '10001', '10001', '10001'],
  I: ['01110', '00100', '00100', '00100', '00100', '00100', '01110'],
  J: ['00111', '00010', '00010', '00010', '00010', '10010', '01100'],
  K: ['10001', '10010', '10100', '11000', '10100', '10010', '10001'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  M: ['10001', '11011', '10101', '10101', '10001', '10001', '10001'],
  N: ['10001', '10001', '11001', '10101', '10011', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  P: ['11110', '10001', '10001', '11110', '10000', '10000', '10000'],
  Q: ['01110', '10001', '10001', '10001', '10101', '10010', '01101'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  U: ['10001', '10001', '10001', '10001', '10001', '10001', '01110'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  W: ['10001', '10001', '10001', '10101', '10101', '10101', '01010'],
  X: ['10001', '10001', '01010', '00100', '01010', '10001', '10001'],
  Y: ['10001', '10001', '01010', '00100', '00100', '00100', '00100'],
  Z: ['11111', '00001', '00010', '00100', '01000', '10000', '11111'],
  0: ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  1: ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  2: ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  3: ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  4: ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  5: ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  6: ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  7: ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  8: ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  9: ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  ',': ['00000', '00000', '00000', '00000', '01100', '00100', '01000'],
  ':': ['00000', '01100', '01100', '00000', '01100', '01100', '00000'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  '+': ['00000', '00100', '00100', '11111', '00100', '00100', '00000'],
  '/': ['00001', '00010', '00010', '00100', '01000', '01000', '10000'],
  '(': ['00010', '00100', '01000', '01000', '01000', '00100', '00010'],
  ')': ['01000', '00100', '00010', '00010', '00010', '00100', '01000'],
  '%': ['11000', '11001', '00010', '00100', '01000', '10011', '00011'],
  '=': ['00000', '00000', '11111', '00000', '11111', '00000', '00000'],
  '_': ['00000', '00000', '00000', '00000', '00000', '00000', '11111'],
  '<': ['00010', '00100', '01000', '10000', '01000', '00100', '00010'],
  '>': ['01000', '00100', '00010', '00001', '00010', '00100', '01000'],
};
const SCALE = 2;
const CHAR_W = 6 * SCALE;
const LINE_H = 9 * SCALE;

/** The series colours, by series index: Herald first, then the competitors. */
export const PALETTE = [
  [37, 99, 235],
  [234, 88, 12],
  [22, 163, 74],
  [147, 51, 234],
];

class Canvas {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.pixels = Buffer.alloc(width * height * 3, 255);
  }

  rect(x, y, w, h, [r, g, b]) {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx++) {
        const i = (yy * this.width + xx) * 3;
        this.pixels[i] = r;
        this.pixels[i + 1] = g;
        this.pixels[i + 2] = b;
      }
    }
  }

  text(x, y, text, colour = [30, 30, 30]) {
    for (const char of String(text).toUpperCase()) {
      const glyph = GLYPHS[char] ?? GLYPHS[' '];
      glyph.forEach((row, gy) => {
        for (let gx = 0; gx < 5; gx++) if (row[gx] === '1') this.rect(x + gx * SCALE, y + gy * SCALE, SCALE, SCALE, colour);
      });
      x += CHAR_W;
    }
  }

  png() {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) this.pixels.copy(raw, y * (this.width * 3 + 1) + 1, y * this.width * 3, (y + 1) * this.width * 3);
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
    return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
  }
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/**
 * groups: [{ label, bars: [{ series: index, value: number | null }] }]; series: names.
 * A null value is drawn as "n/a". Returns the PNG bytes.
 */
export function barChart({ title, unit, series, groups, width = 900, format = (v) => String(v) }) {
  const barH = 22;
  const gap = 6;
  const groupGap = 18;
  const labelW = Math.max(...groups.map((group) => group.label.length)) * CHAR_W + 24;
  const top = 2 * LINE_H + 16;
  const legendH = LINE_H + 12;
  const height = top + groups.reduce((h, group) => h + group.bars.length * (barH + gap) + groupGap, 0) + legendH + 8;
  const canvas = new Canvas(width, height);
  canvas.text(12, 10, title);
  canvas.text(12, 10 + LINE_H, unit, [90, 90, 90]);
  const valueW = 12 * CHAR_W;
  const plotW = width - labelW - valueW - 24;
  const max = Math.max(1e-9, ...groups.flatMap((group) => group.bars.map((bar) => bar.value ?? 0)));
  let y = top;
  for (const group of groups) {
    canvas.text(12, y + ((barH + gap) * group.bars.length - gap) / 2 - LINE_H / 2 + 2, group.label);
    for (const bar of group.bars) {
      const w = bar.value === null ? 0 : Math.max(2, Math.round((bar.value / max) * plotW));
      canvas.rect(labelW, y, w, barH, PALETTE[bar.series % PALETTE.length]);
      canvas.text(labelW + w + 8, y + 4, bar.value === null ? 'n/a' : format(bar.value));
      y += barH + gap;
    }
    y += groupGap;
  }
  canvas.rect(labelW - 2, top - 4, 2, y - top - groupGap + 4, [120, 120, 120]);
  let x = 12;
  series.forEach((name, i) => {
    canvas.rect(x, y + 2, 14, 14, PALETTE[i % PALETTE.length]);
    canvas.text(x + 20, y + 1, name);
    x += 20 + (name.length + 3) * CHAR_W;
  });
  return canvas.png();
}
