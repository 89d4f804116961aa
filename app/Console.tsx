import { useEffect, useRef } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

declare global {
  interface Window {
    /** Test hook: the first console's whole buffer (scrollback included) as text. */
    __termText?: () => string;
    __term?: Terminal;
    /** Test hook: every console's text, by machine index. */
    __consoles?: Record<number, () => string>;
  }
}

export interface ConsoleApi {
  write(data: Uint8Array | string): void;
  clear(): void;
  focus(): void;
}

export function Console(props: { index: number; onInput: (bytes: Uint8Array) => void; onReady: (api: ConsoleApi) => void }) {
  const el = useRef<HTMLDivElement>(null);
  const inputRef = useRef(props.onInput);
  inputRef.current = props.onInput;
  const readyRef = useRef(props.onReady);
  const index = props.index;

  useEffect(() => {
    const term = new Terminal({ cols: 80, rows: 25, convertEol: false, scrollback: 5000, fontSize: 14, cursorBlink: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el.current!);
    const enc = new TextEncoder();
    const sub = term.onData((d) => inputRef.current(enc.encode(d)));
    const text = () => {
      const b = term.buffer.active;
      const out: string[] = [];
      // A line the terminal wrapped continues the previous one: join it without a newline.
      for (let i = 0; i < b.length; i++) {
        const line = b.getLine(i)!;
        const wrapsOn = b.getLine(i + 1)?.isWrapped ?? false;
        const s = line.translateToString(!wrapsOn);
        if (line.isWrapped && out.length > 0) out[out.length - 1] += s; else out.push(s);
      }
      return out.join('\n').replace(/\n+$/, '');
    };
    window.__consoles ??= {};
    window.__consoles[index] = text;
    if (index === 0) { window.__term = term; window.__termText = text; }
    readyRef.current({ write: (d) => term.write(d), clear: () => term.reset(), focus: () => term.focus() });
    return () => {
      sub.dispose();
      term.dispose();
      if (window.__consoles) delete window.__consoles[index];
      if (index === 0) { delete window.__term; delete window.__termText; }
    };
  }, [index]);

  return <div className="console" ref={el} data-testid={`console-${index}`} />;
}
