-- Every write that changes what someone is granted bumps `access_version`, in the
-- statement's own transaction, whoever makes it (the API, the CLI, another relay, a
-- test): a Smart Rule, a group membership, a user's administrator or disabled flag, an
-- asset's existence or the facts rules select on (name, protocol, tags). Relays key their
-- permission cache on the counter, so a request after such a change never sees a
-- permission view built before it. Pins, credentials and desktop settings grant nothing
-- and do not bump it. (A PostgreSQL backend would say the same with a trigger function.)
CREATE TRIGGER grants_rule_insert AFTER INSERT ON smart_rules
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_rule_update AFTER UPDATE ON smart_rules
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_rule_delete AFTER DELETE ON smart_rules
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER grants_member_insert AFTER INSERT ON user_groups
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_member_update AFTER UPDATE ON user_groups
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_member_delete AFTER DELETE ON user_groups
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER grants_user_insert AFTER INSERT ON users
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_user_update AFTER UPDATE OF id, is_admin, disabled ON users
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_user_delete AFTER DELETE ON users
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER grants_asset_insert AFTER INSERT ON assets
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_asset_update AFTER UPDATE OF id, name, protocol, tags ON assets
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER grants_asset_delete AFTER DELETE ON assets
BEGIN UPDATE access_version SET version = version + 1 WHERE id = 1; END;
