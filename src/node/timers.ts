/** The longest delay setTimeout and setInterval take: 2^31 - 1 ms, about 24.8 days. Beyond it they fire after 1 ms. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;
