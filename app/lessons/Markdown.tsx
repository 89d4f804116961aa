// The markdown a lesson's text uses, as React elements (never HTML strings): paragraphs,
// ### headings, - and 1. lists, `code`, **bold**, *emphasis* and [links](url).
import type { ReactNode } from 'react';

function inline(text: string, key: string): ReactNode[] {
  const out: ReactNode[] = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let at = 0;
  let n = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    const k = `${key}-${n++}`;
    if (m[1] !== undefined) out.push(<code key={k}>{m[1]}</code>);
    else if (m[2] !== undefined) out.push(<strong key={k}>{m[2]}</strong>);
    else if (m[3] !== undefined) out.push(<em key={k}>{m[3]}</em>);
    else {
      const href = /^(https?:|\.\/|#|\?)/.test(m[5]) ? m[5] : '#';
      out.push(<a key={k} href={href} target={href.startsWith('http') ? '_blank' : undefined} rel="noreferrer">{m[4]}</a>);
    }
    at = re.lastIndex;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

export function Markdown({ text }: { text: string }) {
  const blocks: ReactNode[] = [];
  const paras = text.split(/\n\s*\n/);
  paras.forEach((p, i) => {
    const lines = p.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) return;
    const h = /^(#{3,4}) (.+)$/.exec(lines[0]);
    if (h && lines.length === 1) {
      blocks.push(h[1].length === 3 ? <h4 key={i}>{inline(h[2], `h${i}`)}</h4> : <h5 key={i}>{inline(h[2], `h${i}`)}</h5>);
      return;
    }
    if (lines.every((l) => /^\s*[-*] /.test(l) || /^\s{2,}\S/.test(l))) {
      const items: string[] = [];
      for (const l of lines) { if (/^\s*[-*] /.test(l)) items.push(l.replace(/^\s*[-*] /, '')); else items[items.length - 1] += ` ${l.trim()}`; }
      blocks.push(<ul key={i}>{items.map((it, j) => <li key={j}>{inline(it, `l${i}-${j}`)}</li>)}</ul>);
      return;
    }
    if (lines.every((l) => /^\s*\d+\. /.test(l) || /^\s{2,}\S/.test(l))) {
      const items: string[] = [];
      for (const l of lines) { if (/^\s*\d+\. /.test(l)) items.push(l.replace(/^\s*\d+\. /, '')); else items[items.length - 1] += ` ${l.trim()}`; }
      blocks.push(<ol key={i}>{items.map((it, j) => <li key={j}>{inline(it, `o${i}-${j}`)}</li>)}</ol>);
      return;
    }
    blocks.push(<p key={i}>{inline(lines.join(' '), `p${i}`)}</p>);
  });
  return <>{blocks}</>;
}
