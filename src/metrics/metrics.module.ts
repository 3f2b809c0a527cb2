import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** The pod's metrics; /metrics is served by the service API (src/http/service-api.module.ts). */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
