/**
 * setTimeout's longest delay (2^31 - 1 ms, about 24.8 days). Node runs a longer one after 1 ms
 * (TimeoutOverflowWarning), so a timer for a later time, whose length a client chose (a TTL, a
 * session expiry, an MQTT will delay), waits this long at most and is armed again.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
