//! Diesel's view of the tables in `migrations/`. Kept by hand beside the SQL; the
//! migration test in `tests/it/migrations.rs` fails when the two drift apart.

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        display_name -> Text,
        email -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        global_role -> Text,
        timezone -> Text,
        is_service -> Bool,
        totp_secret -> Nullable<Bytea>,
        totp_pending_secret -> Nullable<Bytea>,
        totp_enabled_at -> Nullable<Timestamptz>,
        totp_last_step -> Nullable<Int8>,
        source -> Text,
        directory_dn -> Nullable<Text>,
        password_must_change -> Bool,
        totp_key_id -> Nullable<Int8>,
        totp_pending_key_id -> Nullable<Int8>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Int8,
        csrf_token -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    licenses (id) {
        id -> Int8,
        license_id -> Text,
        text -> Text,
        installed_at -> Timestamptz,
        installed_by -> Nullable<Int8>,
        replaced_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        username -> Text,
        ip -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        token_hash -> Bytea,
        token_prefix -> Text,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        scope -> Text,
    }
}

diesel::table! {
    projects (id) {
        id -> Int8,
        key -> Text,
        name -> Text,
        description -> Text,
        lead_id -> Int8,
        next_issue_number -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        permission_scheme_id -> Int8,
        workflow_epoch -> Int8,
    }
}

diesel::table! {
    issues (id) {
        id -> Int8,
        project_id -> Int8,
        number -> Int8,
        issue_type -> Text,
        status_id -> Int8,
        priority -> Int2,
        title -> Text,
        description -> Text,
        assignee_id -> Nullable<Int8>,
        reporter_id -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        parent_id -> Nullable<Int8>,
        due_date -> Nullable<Date>,
        story_points -> Nullable<Float8>,
        estimate_minutes -> Nullable<Int4>,
        fix_version_id -> Nullable<Int8>,
        rank -> Int8,
        sprint_id -> Nullable<Int8>,
    }
}

diesel::table! {
    sprints (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        goal -> Text,
        starts_on -> Nullable<Date>,
        ends_on -> Nullable<Date>,
        state -> Text,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    saved_filters (id) {
        id -> Int8,
        owner_id -> Int8,
        project_id -> Int8,
        name -> Text,
        oql -> Text,
        shared -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    versions (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        release_date -> Nullable<Date>,
        released -> Bool,
    }
}

diesel::table! {
    components (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
    }
}

diesel::table! {
    issue_labels (issue_id, label) {
        issue_id -> Int8,
        label -> Text,
    }
}

diesel::table! {
    issue_components (issue_id, component_id) {
        issue_id -> Int8,
        component_id -> Int8,
    }
}

diesel::table! {
    issue_watchers (issue_id, user_id) {
        issue_id -> Int8,
        user_id -> Int8,
    }
}

diesel::table! {
    work_logs (id) {
        id -> Int8,
        issue_id -> Int8,
        author_id -> Int8,
        minutes -> Int4,
        note -> Text,
        logged_at -> Timestamptz,
    }
}

diesel::table! {
    issue_links (id) {
        id -> Int8,
        source_id -> Int8,
        target_id -> Int8,
        kind -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    custom_fields (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        kind -> Text,
        options -> Array<Text>,
        position -> Int4,
    }
}

diesel::table! {
    custom_values (issue_id, field_id) {
        issue_id -> Int8,
        field_id -> Int8,
        value -> Jsonb,
    }
}

diesel::table! {
    workflow_statuses (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        category -> Text,
        position -> Int4,
        wip_limit -> Nullable<Int4>,
    }
}

diesel::table! {
    workflow_transitions (from_status_id, to_status_id) {
        from_status_id -> Int8,
        to_status_id -> Int8,
    }
}

diesel::table! {
    comments (id) {
        id -> Int8,
        issue_id -> Int8,
        author_id -> Int8,
        body -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor_id -> Nullable<Int8>,
        actor_ip -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Int8,
        before_state -> Nullable<Jsonb>,
        after_state -> Nullable<Jsonb>,
        via_rule_id -> Nullable<Int8>,
        chain_position -> Nullable<Int8>,
        previous_hash -> Nullable<Bytea>,
        row_hash -> Nullable<Bytea>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        created_at -> Timestamptz,
        topic -> Text,
        entity_type -> Text,
        entity_id -> Int8,
        payload -> Jsonb,
        processed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        priority -> Int2,
        state -> Text,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        idempotency_key -> Nullable<Text>,
        ordering_key -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    installation_secrets (name) {
        name -> Text,
        value -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notifications (id) {
        id -> Int8,
        user_id -> Int8,
        event_id -> Int8,
        reason -> Text,
        actor_id -> Nullable<Int8>,
        subject -> Text,
        summary -> Text,
        link -> Text,
        created_at -> Timestamptz,
        read_at -> Nullable<Timestamptz>,
        emailed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notification_preferences (user_id, reason) {
        user_id -> Int8,
        reason -> Text,
        email -> Text,
    }
}

diesel::table! {
    mail_messages (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        to_address -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        state -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Int8,
        project_id -> Nullable<Int8>,
        name -> Text,
        url -> Text,
        secret -> Text,
        events -> Array<Text>,
        active -> Bool,
        created_by -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        webhook_id -> Int8,
        event_id -> Int8,
        topic -> Text,
        payload -> Jsonb,
        state -> Text,
        attempts -> Int4,
        response_status -> Nullable<Int4>,
        response_excerpt -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    incoming_hooks (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        token_hash -> Bytea,
        token_prefix -> Text,
        created_by -> Int8,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    deployments (id) {
        id -> Int8,
        project_id -> Int8,
        environment -> Text,
        version -> Text,
        commit_sha -> Nullable<Text>,
        status -> Text,
        url -> Nullable<Text>,
        notes -> Text,
        hook_id -> Nullable<Int8>,
        started_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    backups (id) {
        id -> Int8,
        file_name -> Text,
        trigger -> Text,
        started_at -> Timestamptz,
        finished_at -> Timestamptz,
        size_bytes -> Int8,
        sha256 -> Text,
        objects -> Int8,
        verified_at -> Nullable<Timestamptz>,
        verify_problem -> Nullable<Text>,
    }
}

diesel::table! {
    data_keys (id) {
        id -> Int8,
        kek_id -> Text,
        wrapped -> Bytea,
        purpose -> Text,
        created_at -> Timestamptz,
        rewrapped_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    deployment_issues (deployment_id, issue_id) {
        deployment_id -> Int8,
        issue_id -> Int8,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(projects -> users (lead_id));
diesel::joinable!(issues -> projects (project_id));
diesel::joinable!(issues -> workflow_statuses (status_id));
diesel::joinable!(workflow_statuses -> projects (project_id));
diesel::joinable!(versions -> projects (project_id));
diesel::joinable!(sprints -> projects (project_id));
diesel::joinable!(saved_filters -> users (owner_id));
diesel::joinable!(components -> projects (project_id));
diesel::joinable!(issue_labels -> issues (issue_id));
diesel::joinable!(issue_components -> components (component_id));
diesel::joinable!(issue_watchers -> users (user_id));
diesel::joinable!(work_logs -> users (author_id));
diesel::joinable!(custom_values -> custom_fields (field_id));
diesel::joinable!(custom_fields -> projects (project_id));
diesel::joinable!(comments -> issues (issue_id));
diesel::joinable!(comments -> users (author_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(licenses -> users (installed_by));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> projects (project_id));
diesel::joinable!(deployment_issues -> deployments (deployment_id));
diesel::joinable!(deployment_issues -> issues (issue_id));
diesel::joinable!(deployments -> projects (project_id));
diesel::joinable!(incoming_hooks -> projects (project_id));

diesel::table! {
    automation_rules (id) {
        id -> Int8,
        project_id -> Int8,
        name -> Text,
        owner_id -> Int8,
        trigger_kind -> Text,
        trigger_value -> Text,
        condition -> Text,
        actions -> Jsonb,
        enabled -> Bool,
        hook_token_hash -> Nullable<Bytea>,
        hook_token_prefix -> Nullable<Text>,
        last_fired_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    automation_runs (id) {
        id -> Int8,
        rule_id -> Int8,
        source -> Text,
        issue_id -> Nullable<Int8>,
        depth -> Int4,
        outcome -> Text,
        changes -> Jsonb,
        error -> Nullable<Text>,
        started_at -> Timestamptz,
        duration_ms -> Int4,
    }
}

diesel::joinable!(automation_rules -> projects (project_id));
diesel::joinable!(automation_rules -> users (owner_id));
diesel::joinable!(automation_runs -> automation_rules (rule_id));
diesel::joinable!(automation_runs -> issues (issue_id));

diesel::table! {
    teams (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Int8,
        user_id -> Int8,
        added_at -> Timestamptz,
        added_by -> Text,
    }
}

diesel::table! {
    permission_schemes (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    permission_scheme_grants (scheme_id, permission, role) {
        scheme_id -> Int8,
        permission -> Text,
        role -> Text,
    }
}

diesel::table! {
    project_role_grants (id) {
        id -> Int8,
        project_id -> Int8,
        role -> Text,
        user_id -> Nullable<Int8>,
        team_id -> Nullable<Int8>,
        everyone -> Bool,
        granted_at -> Timestamptz,
    }
}

diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(permission_scheme_grants -> permission_schemes (scheme_id));
diesel::joinable!(projects -> permission_schemes (permission_scheme_id));
diesel::joinable!(project_role_grants -> projects (project_id));
diesel::joinable!(project_role_grants -> teams (team_id));

diesel::table! {
    mfa_recovery_codes (id) {
        id -> Int8,
        user_id -> Int8,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Int8,
        created_at -> Timestamptz,
        failures -> Int4,
    }
}

diesel::table! {
    installation_settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    oidc_logins (id) {
        id -> Int8,
        state_hash -> Bytea,
        nonce -> Text,
        verifier -> Text,
        next -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Int8,
        user_id -> Int8,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    usage_activity (day, user_id) {
        day -> Date,
        user_id -> Int8,
    }
}

diesel::table! {
    usage_days (day) {
        day -> Date,
        active_users -> Int4,
        issues_created -> Int4,
        pages_created -> Int4,
        storage_bytes -> Int8,
        api_calls -> Int8,
        measured_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    backups,
    usage_activity,
    usage_days,
    password_resets,
    oidc_logins,
    mfa_recovery_codes,
    mfa_challenges,
    installation_settings,
    teams,
    team_members,
    permission_schemes,
    permission_scheme_grants,
    project_role_grants,
    users,
    sessions,
    licenses,
    login_failures,
    api_tokens,
    projects,
    issues,
    workflow_statuses,
    workflow_transitions,
    versions,
    sprints,
    saved_filters,
    components,
    issue_labels,
    issue_components,
    issue_watchers,
    work_logs,
    issue_links,
    custom_fields,
    custom_values,
    comments,
    audit_log,
    outbox,
    jobs,
    installation_secrets,
    notifications,
    notification_preferences,
    mail_messages,
    webhooks,
    webhook_deliveries,
    incoming_hooks,
    deployments,
    data_keys,
    deployment_issues,
    automation_rules,
    automation_runs,
    attachments,
    spaces,
    pages,
    page_versions,
    page_mentions,
    page_watchers,
);

diesel::table! {
    attachments (id) {
        id -> Int8,
        issue_id -> Nullable<Int8>,
        object_key -> Text,
        file_name -> Text,
        content_type -> Text,
        size_bytes -> Int8,
        sha256 -> Text,
        uploaded_by -> Int8,
        created_at -> Timestamptz,
        page_id -> Nullable<Int8>,
        thumbnail_key -> Nullable<Text>,
        thumbnail_note -> Nullable<Text>,
        data_key_id -> Nullable<Int8>,
        thumbnail_data_key_id -> Nullable<Int8>,
    }
}

diesel::joinable!(attachments -> issues (issue_id));
diesel::joinable!(attachments -> users (uploaded_by));

diesel::table! {
    spaces (id) {
        id -> Int8,
        key -> Text,
        name -> Text,
        description -> Text,
        project_id -> Nullable<Int8>,
        created_by -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    pages (id) {
        id -> Int8,
        space_id -> Int8,
        parent_id -> Nullable<Int8>,
        position -> Int4,
        title -> Text,
        body -> Text,
        version -> Int4,
        created_by -> Int8,
        updated_by -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    page_versions (page_id, version) {
        page_id -> Int8,
        version -> Int4,
        title -> Text,
        body -> Text,
        author_id -> Int8,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    page_mentions (page_id, issue_id) {
        page_id -> Int8,
        issue_id -> Int8,
    }
}

diesel::table! {
    page_watchers (page_id, user_id) {
        page_id -> Int8,
        user_id -> Int8,
    }
}

diesel::joinable!(attachments -> pages (page_id));
diesel::joinable!(spaces -> projects (project_id));
diesel::joinable!(pages -> spaces (space_id));
diesel::joinable!(page_versions -> pages (page_id));
diesel::joinable!(page_versions -> users (author_id));
diesel::joinable!(page_mentions -> pages (page_id));
diesel::joinable!(page_mentions -> issues (issue_id));
diesel::joinable!(page_watchers -> pages (page_id));
diesel::joinable!(page_watchers -> users (user_id));

diesel::table! {
    search_rebuilds (generation) {
        generation -> Int8,
        requested_at -> Timestamptz,
        requested_by -> Nullable<Int8>,
        reason -> Text,
    }
}
