import { Catch } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker/broker';
import { BrokerUnavailableFilter } from '../broker/broker-unavailable.filter';

/** The presence API's 503 (section 7), in words about reading presence rather than publishing. */
@Catch(BrokerUnavailableError)
export class PresenceUnavailableFilter extends BrokerUnavailableFilter {
  protected override messageFor(): string {
    return 'The message broker is unavailable (unreachable, or refusing commands for now), so presence across pods cannot be read. Retry later.';
  }
}
