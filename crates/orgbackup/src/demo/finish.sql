-- After the load: indexes, the large table's foreign keys, row-level security, statistics.
CREATE INDEX ON {schema}.campaigns (org_id);
CREATE INDEX ON {schema}.ad_sets (org_id);
CREATE INDEX ON {schema}.ad_sets (campaign_id);
CREATE INDEX ON {schema}.ads (org_id);
CREATE INDEX ON {schema}.ads (ad_set_id);
CREATE INDEX ON {schema}.posts (org_id);
CREATE INDEX ON {schema}.post_comments (post_id);
CREATE INDEX ON {schema}.post_comments (parent_comment_id);
CREATE INDEX ON {schema}.tags (org_id);
CREATE INDEX ON {schema}.post_tags (tag_id);
CREATE INDEX ON {schema}.media_assets (org_id);
CREATE INDEX ON {schema}.analytics_events (org_id, occurred_at);
-- Foreign-key columns are indexed, as in any real schema: deleting a parent checks them.
CREATE INDEX ON {schema}.analytics_events (campaign_id);
CREATE INDEX ON {schema}.analytics_events (post_id);
CREATE INDEX ON {schema}.posts (campaign_id);
CREATE INDEX ON {schema}.media_assets (post_id);
ALTER TABLE {schema}.analytics_events
    ADD FOREIGN KEY (org_id) REFERENCES {schema}.orgs,
    ADD FOREIGN KEY (campaign_id) REFERENCES {schema}.campaigns,
    ADD FOREIGN KEY (post_id) REFERENCES {schema}.posts;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'ad_sets', 'ads', 'posts', 'tags', 'media_assets', 'settings', 'analytics_events'] LOOP
        EXECUTE format('ALTER TABLE %s.%I ENABLE ROW LEVEL SECURITY', '{schema}', t);
        EXECUTE format(
            'CREATE POLICY org_isolation ON %s.%I USING (org_id = current_setting(''app.current_org_id'', true)::uuid)',
            '{schema}', t);
    END LOOP;
END $$;

ANALYZE {schema}.orgs, {schema}.users, {schema}.campaigns, {schema}.ad_sets, {schema}.ads, {schema}.posts,
    {schema}.post_comments, {schema}.tags, {schema}.post_tags, {schema}.media_assets, {schema}.settings,
    {schema}.analytics_events;
