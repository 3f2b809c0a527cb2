import { Module } from '@nestjs/common';
import { SdkBundle } from './sdk.bundle';
import { SdkController } from './sdk.controller';

/** GET /sdk/herald.js: the browser SDK, on the public port, in every environment. */
@Module({ controllers: [SdkController], providers: [SdkBundle] })
export class SdkModule {}
