import { Module } from '@nestjs/common';
import { BrokerStatusReporter } from './broker-status.reporter';
import { HealthController } from './health.controller';

@Module({ controllers: [HealthController], providers: [BrokerStatusReporter] })
export class HealthModule {}
