// Debian's Chromium (no browser downloads) and the flags that keep it off the network:
// shared by playwright.config.ts and the tests that launch their own persistent context.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
