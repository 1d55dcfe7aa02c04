-- Shared Signals (src/signals/): when a partner last said a user's authentication assurance
-- went down. Their partner-performed MFA from before that no longer counts.
ALTER TABLE users ADD COLUMN assurance_lowered_at BIGINT;
