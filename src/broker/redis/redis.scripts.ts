import { INBOX_SCRIPTS } from './inbox.scripts';
import { PERSONAL_PRESENCE_SCRIPTS } from './personal-presence.scripts';
import { PRESENCE_SCRIPTS } from './presence.scripts';
import { ROOM_SCRIPTS } from './room.scripts';

/** Every script a Redis connection loads: each seam's own, defined next to the code that calls it. */
export const REDIS_SCRIPTS = { ...ROOM_SCRIPTS, ...PRESENCE_SCRIPTS, ...PERSONAL_PRESENCE_SCRIPTS, ...INBOX_SCRIPTS };
