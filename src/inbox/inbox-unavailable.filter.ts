import { Catch } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker/broker';
import { BrokerUnavailableFilter } from '../broker/broker-unavailable.filter';

/** The inbox's 503 (section 7), in words about reading and marking an inbox rather than publishing. */
@Catch(BrokerUnavailableError)
export class InboxUnavailableFilter extends BrokerUnavailableFilter {
  protected override messageFor(unconfirmedBecause: string | undefined): string {
    return unconfirmedBecause !== undefined
      ? `The message broker could not confirm the change (${unconfirmedBecause}), so it is not acknowledged; it may have been applied all the same. Retry later: marking items read again is harmless.`
      : 'The message broker is unavailable (unreachable, or refusing commands for now), so the inbox could not be read or changed. Retry later: marking items read again is harmless.';
  }
}
