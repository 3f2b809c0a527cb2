import { chromium, type Browser } from 'playwright-core';

/** Flags for headless Debian Chromium in a container, the same for every browser suite. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The system's Chromium (CI installs the Debian package; Playwright's own download is not used). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}
