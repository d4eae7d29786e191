// A strict-enough XML well-formedness check for the SVGs tessera writes (no parser dependency):
// balanced tags, quoted attributes, and no bare '<' or '&' in text.
export function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const entity = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/i;
  let i = 0;
  const text = (s: string, where: string) => {
    for (let k = s.indexOf('&'); k >= 0; k = s.indexOf('&', k + 1)) {
      if (!entity.test(s.slice(k))) throw new Error(`bare '&' in ${where}: ${s.slice(k, k + 20)}`);
    }
  };
  while (i < xml.length) {
    const open = xml.indexOf('<', i);
    if (open < 0) { text(xml.slice(i), 'text'); break; }
    text(xml.slice(i, open), 'text');
    const close = xml.indexOf('>', open);
    if (close < 0) throw new Error(`unclosed tag at ${open}`);
    const tag = xml.slice(open + 1, close);
    if (tag.includes('<')) throw new Error(`'<' inside tag at ${open}: ${tag.slice(0, 40)}`);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const top = stack.pop();
      if (top !== name) throw new Error(`</${name}> closes <${top}>`);
    } else if (!tag.startsWith('?') && !tag.startsWith('!')) {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*$/.exec(body);
      if (!m) throw new Error(`malformed tag: <${tag.slice(0, 60)}>`);
      for (const [, , v] of m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)) text(v!, `attribute of <${m[1]}>`);
      if (!selfClosing) stack.push(m[1]!);
    }
    i = close + 1;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
}
