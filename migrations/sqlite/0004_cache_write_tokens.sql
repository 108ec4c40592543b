-- Cache writes, priced apart from plain input (Anthropic bills a 5-minute write at 1.25x
-- and a 1-hour write at 2x the input rate): counted per row and in every daily roll-up.
-- cached_tokens keeps its meaning, the tokens read from the provider's prompt cache.
-- Applied once; never edited after it lands (add a new numbered file instead).

ALTER TABLE spend_log ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_daily_key ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_daily_team ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_daily_model ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_daily_provider ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
