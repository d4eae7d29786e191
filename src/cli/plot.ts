// A self-contained SVG chart of per-epoch loss and accuracy (train and validation).

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

interface Series { name: string; values: number[]; color: string; dashed: boolean }

function panel(x0: number, title: string, series: Series[], epochs: number, yLabel: string): string {
  const w = 420, h = 270, left = 56, right = 16, top = 50, bottom = 44;
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  const padY = (hi - lo) * 0.08;
  lo -= padY; hi += padY;
  const sx = (e: number) => x0 + left + (epochs <= 1 ? 0.5 : e / (epochs - 1)) * (w - left - right);
  const sy = (v: number) => top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom);
  const parts = [`<text x="${x0 + w / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4, y = sy(v);
    parts.push(`<line x1="${x0 + left}" x2="${x0 + w - right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`, `<text x="${x0 + left - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#555">${v.toFixed(3)}</text>`);
  }
  for (let e = 0; e < epochs; e++) {
    if (epochs > 12 && e % Math.ceil(epochs / 10) !== 0) continue;
    parts.push(`<text x="${sx(e)}" y="${h - bottom + 16}" text-anchor="middle" font-size="11" fill="#555">${e + 1}</text>`);
  }
  parts.push(`<text x="${x0 + (w + left) / 2}" y="${h - 8}" text-anchor="middle" font-size="12" fill="#333">epoch</text>`);
  parts.push(`<text transform="translate(${x0 + 14} ${(top + h - bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${esc(yLabel)}</text>`);
  parts.push(`<rect x="${x0 + left}" y="${top}" width="${w - left - right}" height="${h - top - bottom}" fill="none" stroke="#999"/>`);
  series.forEach((s, i) => {
    const pts = s.values.map((v, e) => `${sx(e).toFixed(1)},${sy(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    s.values.forEach((v, e) => parts.push(`<circle cx="${sx(e).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="2.5" fill="${s.color}"/>`));
    // legend in a row above the plot area, clear of the curves
    const lx = x0 + left + i * 110, ly = top - 12;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${lx + 26}" y="${ly + 4}" font-size="11">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** SVG with a loss panel and an accuracy panel from Keras-style history. */
export function trainingChart(history: Record<string, number[]>, title: string, validationName = 'validation'): string {
  const epochs = Math.max(0, ...Object.values(history).map((v) => v.length));
  const pick = (k: string, name: string, color: string, dashed: boolean): Series[] => (history[k] ? [{ name, values: history[k]!, color, dashed }] : []);
  const loss = [...pick('loss', 'train', '#1f77b4', false), ...pick('val_loss', validationName, '#ff7f0e', true)];
  const acc = [...pick('accuracy', 'train', '#1f77b4', false), ...pick('val_accuracy', validationName, '#ff7f0e', true)];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="310" viewBox="0 0 860 310" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="860" height="310" fill="white"/>`,
    `<text x="430" y="304" text-anchor="middle" font-size="11" fill="#777">${esc(title)}</text>`,
    panel(0, 'Loss', loss, epochs, 'cross-entropy'),
    panel(430, 'Accuracy', acc, epochs, 'accuracy'),
    `</svg>`,
  ].join('\n');
}
