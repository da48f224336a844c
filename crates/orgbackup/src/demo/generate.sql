-- name: campaigns ($1 org, $2 campaigns)
INSERT INTO {schema}.campaigns
SELECT md5($1::text || ':campaign:' || i)::uuid, $1, 'Campaign ' || i,
       (ARRAY['draft', 'active', 'paused', 'completed'])[1 + i % 4],
       ((i * 7919) % 1000000) / 100.0, date '2026-01-01' + (i % 365), md5('user:' || (i % 40))::uuid
  FROM generate_series(1, $2::int) i;
-- name: ad_sets ($1 org, $2 campaigns, $3 ad sets per campaign)
INSERT INTO {schema}.ad_sets
SELECT md5($1::text || ':adset:' || c || ':' || k)::uuid, $1, md5($1::text || ':campaign:' || c)::uuid,
       'Ad set ' || c || '.' || k,
       jsonb_build_object('countries', jsonb_build_array('AE', 'SA', 'EG'), 'age_min', 17 + k, 'age_max', 45 + c % 20,
                          'interests', jsonb_build_array('marketing', 'social', 'retail'))
  FROM generate_series(1, $2::int) c, generate_series(1, $3::int) k;
-- name: ads ($1 org, $2 campaigns, $3 ad sets per campaign and ads per ad set)
INSERT INTO {schema}.ads
SELECT md5($1::text || ':ad:' || c || ':' || k || ':' || j)::uuid, $1, md5($1::text || ':adset:' || c || ':' || k)::uuid,
       'Headline ' || c || '.' || k || '.' || j, 'Body of ad ' || md5('ad' || c || k || j),
       timestamptz '2026-01-01 00:00:00+00' + (c * 3 + k + j) * interval '1 hour'
  FROM generate_series(1, $2::int) c, generate_series(1, $3::int) k, generate_series(1, $3::int) j;
-- name: posts ($1 org, $2 posts, $3 campaigns)
INSERT INTO {schema}.posts
SELECT md5($1::text || ':post:' || i)::uuid, $1,
       CASE WHEN i % 3 = 0 THEN NULL ELSE md5($1::text || ':campaign:' || (1 + i % $3::int))::uuid END,
       'Post number ' || i, repeat('Lorem ipsum dolor sit amet ' || i || '. ', 1 + i % 5),
       CASE WHEN i % 5 = 0 THEN NULL ELSE timestamptz '2026-01-01 00:00:00+00' + i * interval '17 minutes' END
  FROM generate_series(1, $2::int) i;
-- name: comments ($1 org, $2 posts)
INSERT INTO {schema}.post_comments (post_id, author_id, body, created_at)
SELECT md5($1::text || ':post:' || i)::uuid, md5('user:' || (i % 40))::uuid, 'Great post #' || i,
       timestamptz '2026-01-02 00:00:00+00' + i * interval '17 minutes'
  FROM generate_series(1, $2::int) i;
-- name: replies ($1 org)
INSERT INTO {schema}.post_comments (post_id, parent_comment_id, author_id, body, created_at)
SELECT c.post_id, c.comment_id, md5('user:' || ((c.comment_id + 7) % 40))::uuid, 'Reply to ' || c.comment_id,
       c.created_at + interval '5 minutes'
  FROM {schema}.post_comments c JOIN {schema}.posts p USING (post_id)
 WHERE p.org_id = $1 AND c.parent_comment_id IS NULL
 ORDER BY c.comment_id;
-- name: tags ($1 org, $2 tags)
INSERT INTO {schema}.tags SELECT md5($1::text || ':tag:' || i)::uuid, $1, 'tag-' || i FROM generate_series(1, $2::int) i;
-- name: post_tags ($1 org, $2 posts, $3 tags)
INSERT INTO {schema}.post_tags
SELECT md5($1::text || ':post:' || i)::uuid, md5($1::text || ':tag:' || (1 + (i + j) % $3::int))::uuid
  FROM generate_series(1, $2::int) i, generate_series(0, least(2, $3::int - 1)) j;
-- name: media ($1 org, $2 assets, $3 posts)
INSERT INTO {schema}.media_assets (asset_id, org_id, post_id, storage_path, mime_type, size_bytes)
SELECT a.id, $1, md5($1::text || ':post:' || (1 + i % $3::int))::uuid, $1::text || '/media/' || a.id || '.png', 'image/png',
       1024 + (i * 797) % 7168
  FROM generate_series(1, $2::int) i, LATERAL (SELECT md5($1::text || ':asset:' || i)::uuid AS id) a;
-- name: settings ($1 org)
INSERT INTO {schema}.settings
VALUES ($1, jsonb_build_object('locale', 'en', 'timezone', 'Asia/Dubai', 'notifications', jsonb_build_object('email', true, 'webhook', false)),
        timestamptz '2026-01-01 00:00:00+00');
-- name: analytics ($1 org, $2 first, $3 last, $4 campaigns, $5 posts)
INSERT INTO {schema}.analytics_events (org_id, campaign_id, post_id, event_type, occurred_at, payload, user_agent)
SELECT $1, md5($1::text || ':campaign:' || (1 + i % $4::int))::uuid,
       CASE WHEN i % 4 = 0 THEN NULL ELSE md5($1::text || ':post:' || (1 + i % $5::int))::uuid END,
       (ARRAY['impression', 'click', 'view', 'share', 'like', 'conversion'])[1 + i % 6],
       timestamptz '2026-01-01 00:00:00+00' + i * interval '7 seconds',
       jsonb_build_object(
           'session', md5('session' || (i / 20)),
           'page', '/campaigns/' || (i % 997) || '/landing?variant=' || (i % 7) || '&lang=' || (ARRAY['en', 'ar'])[1 + i % 2],
           'referrer', 'https://www.example-' || (i % 131) || '.com/search?q=' || md5('q' || (i % 5003)),
           'utm', jsonb_build_object('source', (ARRAY['google', 'facebook', 'newsletter', 'x'])[1 + i % 4],
                                     'medium', 'cpc', 'campaign', 'spring-sale-' || (i % 53)),
           'viewport', jsonb_build_object('w', 360 + i % 1560, 'h', 640 + i % 800),
           'scroll_depth', i % 101, 'duration_ms', (i * 7919) % 600000,
           'device', (ARRAY['mobile', 'desktop', 'tablet'])[1 + i % 3]),
       'Mozilla/5.0 (' || (ARRAY['Windows NT 10.0; Win64; x64', 'Macintosh; Intel Mac OS X 14_5', 'X11; Linux x86_64',
                                 'iPhone; CPU iPhone OS 17_5 like Mac OS X'])[1 + i % 4]
           || ') AppleWebKit/537.36 (KHTML, like Gecko) Chrome/' || (120 + i % 8) || '.0.' || (i % 9000) || '.0 Safari/537.36'
  FROM generate_series($2::bigint, $3::bigint) i;
-- name: org_rows ($1 org)
SELECT (SELECT count(*) FROM {schema}.campaigns WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.ad_sets WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.ads WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.posts WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.post_comments c JOIN {schema}.posts p USING (post_id) WHERE p.org_id = $1)
     + (SELECT count(*) FROM {schema}.tags WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.post_tags pt JOIN {schema}.posts p USING (post_id) WHERE p.org_id = $1)
     + (SELECT count(*) FROM {schema}.media_assets WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.settings WHERE org_id = $1)
     + (SELECT count(*) FROM {schema}.analytics_events WHERE org_id = $1);
