import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Injectable, NotFoundException } from '@nestjs/common';

export interface SdkScript {
  source: string;
  version: string;
  /** A strong ETag: the version and a hash of the bytes, so a rebuilt SDK is fetched again. */
  etag: string;
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
    return { source, version, etag: `"${version}-${hash}"` };
  }
}
