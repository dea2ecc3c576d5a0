DROP TRIGGER installation_settings_changed ON installation_settings;
DROP TRIGGER licenses_changed ON licenses;
DROP FUNCTION outpost_notify_change();
