import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { Injectable, NotFoundException } from '@nestjs/common';

/** The script in one content coding, with its own strong ETag (RFC 9110 8.8.3: each coding is a representation). */
export interface SdkEncoding {
  /** `Content-Encoding`; undefined for the script as it is. */
  coding: 'br' | 'gzip' | undefined;
  bytes: Buffer;
  etag: string;
}

export interface SdkScript {
  version: string;
  /**
   * The script compressed once, when read, then as it is (last): the most preferred coding first.
   * Each ETag is the version and a hash of the script, so a rebuilt SDK is fetched again.
   */
  encodings: readonly SdkEncoding[];
}

/**
 * The browser SDK as one ES module (@herald/client's dist/herald.js, built by its bundle
 * script), read once. Resolved through the package, so it works from the workspace and from
 * node_modules alike.
 */
@Injectable()
export class SdkBundle {
  private readonly packageDir = dirname(require.resolve('@herald/client/package.json'));
  private loaded: Promise<SdkScript> | undefined;

  script(): Promise<SdkScript> {
    this.loaded ??= this.load().catch((error: unknown) => {
      this.loaded = undefined; // a later request tries again, e.g. after the build finished
      throw error;
    });
    return this.loaded;
  }

  private async load(): Promise<SdkScript> {
    const { version } = JSON.parse(await readFile(join(this.packageDir, 'package.json'), 'utf8')) as { version: string };
    let source: string;
    try {
      source = await readFile(join(this.packageDir, 'dist', 'herald.js'), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundException('The browser SDK is not built (npm run build)');
      throw error;
    }
    const hash = createHash('sha256').update(source).digest('base64url').slice(0, 16);
    const etag = `"${version}-${hash}"`;
    // Compressed once, off the event loop: about a quarter of the bytes for every page that loads it.
    const [br, gzipped] = await Promise.all([
      promisify(brotliCompress)(source, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } }),
      promisify(gzip)(source, { level: 9 }),
    ]);
    const encodings: SdkEncoding[] = [
      { coding: 'br', bytes: br, etag: `"${version}-${hash}-br"` },
      { coding: 'gzip', bytes: gzipped, etag: `"${version}-${hash}-gzip"` },
      { coding: undefined, bytes: Buffer.from(source), etag },
    ];
    return { version, encodings };
  }
}
