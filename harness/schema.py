"""The store's schema: named, append-only migrations (SQL text only; harness/store.py applies them)."""

from __future__ import annotations


def _judge_spend(calls: str, tokens_in: str, tokens_out: str, cost: str, unpriced: str) -> str:
    """The judge-spend columns of a `vote_rollup` aggregate, named for the view they go in. Votes answered from
    the cache cost nothing again; where no call was made nothing was spent (0), where calls were made and none
    was priced the spend is unknown (NULL)."""
    made = "coalesce(sum(votes) FILTER (WHERE NOT cached), 0)"
    return (
        f"{made} AS {calls}, coalesce(sum(votes) FILTER (WHERE cached), 0) AS cached_votes, "
        f"coalesce(sum(tokens_in) FILTER (WHERE NOT cached), CASE WHEN {made} = 0 THEN 0 END) AS {tokens_in}, "
        f"coalesce(sum(tokens_out) FILTER (WHERE NOT cached), CASE WHEN {made} = 0 THEN 0 END) AS {tokens_out}, "
        f"coalesce(sum(cost_usd) FILTER (WHERE NOT cached), CASE WHEN {made} = 0 THEN 0.0 END) AS {cost}, "
        f"coalesce(sum(votes - priced) FILTER (WHERE NOT cached), 0) AS {unpriced}"
    )


# Append-only: a new schema change is a new entry at the end; applied names are recorded in the file.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_runs_and_evidence",
        """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL,
        pact_id VARCHAR NOT NULL, pact_version VARCHAR NOT NULL, pact_hash VARCHAR NOT NULL,
        suite_id VARCHAR NOT NULL, suite_hash VARCHAR NOT NULL, suite_path VARCHAR NOT NULL,
        agent VARCHAR, agent_version VARCHAR, target_spec VARCHAR NOT NULL, panel_id VARCHAR,
        harness_version VARCHAR NOT NULL, options VARCHAR NOT NULL, n_cases INTEGER NOT NULL);
    -- status is the latest event, so the runs row itself is never updated
    CREATE TABLE run_events (run_id VARCHAR NOT NULL, event_at TIMESTAMPTZ NOT NULL, event VARCHAR NOT NULL,
        detail VARCHAR);
    CREATE TABLE cases (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, case_hash VARCHAR NOT NULL, suite_id VARCHAR NOT NULL,
        clause_ids VARCHAR NOT NULL, input VARCHAR NOT NULL, system VARCHAR, context VARCHAR NOT NULL,
        expected VARCHAR NOT NULL, tags VARCHAR NOT NULL, mutated_from VARCHAR, PRIMARY KEY (run_id, case_id));
    CREATE TABLE transcripts (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, output VARCHAR NOT NULL, tool_calls VARCHAR NOT NULL,
        latency_ms DOUBLE NOT NULL, tokens_in BIGINT, tokens_out BIGINT, cost_usd DOUBLE, error VARCHAR,
        recorded_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (run_id, case_id));
    CREATE TABLE check_results (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, idx INTEGER NOT NULL,
        check_name VARCHAR NOT NULL, negated BOOLEAN NOT NULL, outcome VARCHAR NOT NULL, detail VARCHAR NOT NULL);
    CREATE TABLE verdicts (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
        decided_by VARCHAR NOT NULL, detail VARCHAR NOT NULL, PRIMARY KEY (run_id, case_id, clause_id));
    CREATE TABLE clause_results (
        run_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, position INTEGER NOT NULL, severity VARCHAR NOT NULL,
        n INTEGER NOT NULL,
        passed INTEGER NOT NULL, failed INTEGER NOT NULL, errors INTEGER NOT NULL, pending INTEGER NOT NULL,
        inconclusive INTEGER NOT NULL, rate DOUBLE, ci_low DOUBLE, ci_high DOUBLE, threshold DOUBLE NOT NULL,
        status VARCHAR NOT NULL, PRIMARY KEY (run_id, clause_id));
    CREATE TABLE decisions (
        run_id VARCHAR NOT NULL PRIMARY KEY, pact_id VARCHAR NOT NULL, decision VARCHAR NOT NULL,
        reasons VARCHAR NOT NULL, rule_index INTEGER, decided_at TIMESTAMPTZ NOT NULL);
    """,
    ),
    (
        "0002_jury",
        """
    ALTER TABLE runs ADD COLUMN panel_hash VARCHAR;
    ALTER TABLE verdicts ADD COLUMN method VARCHAR;
    ALTER TABLE verdicts ADD COLUMN panel_score DOUBLE;
    ALTER TABLE verdicts ADD COLUMN split VARCHAR;
    ALTER TABLE verdicts ADD COLUMN entropy_bits DOUBLE;
    ALTER TABLE verdicts ADD COLUMN unanimous BOOLEAN;
    CREATE TABLE panels (panel_hash VARCHAR PRIMARY KEY, panel_id VARCHAR NOT NULL, spec VARCHAR NOT NULL);
    CREATE TABLE ballots (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, complete BOOLEAN NOT NULL,
        calls_saved INTEGER NOT NULL, shuffle_seed BIGINT, PRIMARY KEY (run_id, case_id, clause_id));
    CREATE TABLE votes (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, judge VARCHAR NOT NULL,
        model VARCHAR NOT NULL, sample INTEGER NOT NULL, label VARCHAR NOT NULL, score DOUBLE,
        rationale VARCHAR NOT NULL, raw_reply VARCHAR NOT NULL, prompt_hash VARCHAR NOT NULL,
        cache_key VARCHAR NOT NULL, abstain_reason VARCHAR, latency_ms DOUBLE NOT NULL, tokens_in BIGINT,
        tokens_out BIGINT, cost_usd DOUBLE, cached BOOLEAN NOT NULL, flags VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE panel_stats (
        run_id VARCHAR NOT NULL PRIMARY KEY, panel_id VARCHAR NOT NULL, panel_hash VARCHAR NOT NULL,
        method VARCHAR NOT NULL, n_ballots INTEGER NOT NULL, n_incomplete INTEGER NOT NULL,
        percent_agreement DOUBLE, fleiss_kappa DOUBLE, alpha_nominal DOUBLE, alpha_ordinal DOUBLE,
        alpha_interval DOUBLE, stats VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE judge_stats (
        run_id VARCHAR NOT NULL, judge VARCHAR NOT NULL, n INTEGER NOT NULL, pass_rate DOUBLE, pass_ci_low DOUBLE,
        pass_ci_high DOUBLE, abstain_rate DOUBLE, abstain_ci_low DOUBLE, abstain_ci_high DOUBLE,
        agreement_with_panel DOUBLE, agreement_ci_low DOUBLE, agreement_ci_high DOUBLE,
        PRIMARY KEY (run_id, judge));
    """,
    ),
    # Trend views (read by harness/queries.py; any DuckDB client can query them). Each aggregates with GROUP BY
    # on columns and joins the aggregates: no correlated subquery per row, so they stay fast on large stores.
    # vote_rollup: per batch written, one row per (run, clause, judge, model, cached) with the counts and sums
    # the cost views need, so they read thousands of rows instead of every vote (append-only, like votes;
    # Store.write_results writes both in one transaction; existing votes are rolled up here).
    (
        "0003_views",
        f"""
    CREATE TABLE vote_rollup (
        run_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, judge VARCHAR NOT NULL, model VARCHAR NOT NULL,
        cached BOOLEAN NOT NULL, votes BIGINT NOT NULL, abstains BIGINT NOT NULL, priced BIGINT NOT NULL,
        tokens_in BIGINT, tokens_out BIGINT, cost_usd DOUBLE, latency_ms DOUBLE NOT NULL);
    INSERT INTO vote_rollup
    SELECT run_id, clause_id, judge, model, cached, count(*), count(*) FILTER (WHERE label = 'abstain'),
           count(cost_usd), sum(tokens_in), sum(tokens_out), sum(cost_usd), sum(latency_ms)
    FROM votes GROUP BY run_id, clause_id, judge, model, cached;

    CREATE VIEW v_run_status AS
    SELECT run_id, arg_max(event, event_at) AS status, min(event_at) AS first_event_at,
           max(event_at) FILTER (WHERE event = 'completed') AS finished_at
    FROM run_events GROUP BY run_id;

    CREATE VIEW v_clause_trend AS
    SELECT r.pact_id, r.pact_version, r.pact_hash, r.suite_id, r.agent, r.agent_version, r.panel_id, r.run_id,
           r.started_at, s.finished_at, c.clause_id, c.position, c.severity, c.n, c.passed, c.failed, c.errors,
           c.pending, c.inconclusive, c.rate, c.ci_low, c.ci_high, c.threshold, c.status
    FROM clause_results c JOIN runs r ON r.run_id = c.run_id LEFT JOIN v_run_status s ON s.run_id = c.run_id;

    CREATE VIEW v_clause_versions AS
    SELECT pact_id, agent, agent_version, clause_id, count(*) AS runs, min(started_at) AS first_run_at,
           max(started_at) AS last_run_at, sum(passed) AS passed, sum(passed + failed + errors) AS decided,
           sum(passed) / nullif(sum(passed + failed + errors), 0) AS pooled_rate, min(rate) AS min_rate,
           max(rate) AS max_rate, arg_max_null(rate, started_at) AS latest_rate,
           arg_max(status, started_at) AS latest_status, arg_max(threshold, started_at) AS threshold
    FROM v_clause_trend GROUP BY pact_id, agent, agent_version, clause_id;

    CREATE VIEW v_panel_agreement AS
    SELECT r.pact_id, r.agent, r.agent_version, r.run_id, r.started_at, p.panel_id, p.panel_hash, p.method,
           p.n_ballots, p.n_incomplete, p.percent_agreement, p.fleiss_kappa, p.alpha_nominal, p.alpha_ordinal,
           p.alpha_interval, coalesce(v.panel_verdicts, 0) AS panel_verdicts,
           coalesce(v.split_verdicts, 0) AS split_verdicts,
           coalesce(v.inconclusive_verdicts, 0) AS inconclusive_verdicts,
           v.split_verdicts / nullif(v.panel_verdicts, 0) AS split_share
    FROM panel_stats p JOIN runs r ON r.run_id = p.run_id
    LEFT JOIN (SELECT run_id, count(*) AS panel_verdicts,
                      count(*) FILTER (WHERE split_part(split, '-', 1) NOT IN ('', '0')
                                         AND split_part(split, '-', 2) NOT IN ('', '0')) AS split_verdicts,
                      count(*) FILTER (WHERE outcome = 'inconclusive') AS inconclusive_verdicts
               FROM verdicts WHERE decided_by = 'panel' GROUP BY run_id) v ON v.run_id = p.run_id;

    CREATE VIEW v_judge_drift AS
    SELECT r.pact_id, r.agent, r.agent_version, r.panel_id, r.panel_hash, r.run_id, r.started_at, j.judge, j.n,
           j.pass_rate, j.pass_ci_low, j.pass_ci_high, j.abstain_rate, j.agreement_with_panel, j.agreement_ci_low,
           j.agreement_ci_high,
           j.pass_rate - lag(j.pass_rate) OVER w AS pass_rate_change,
           j.agreement_with_panel - lag(j.agreement_with_panel) OVER w AS agreement_change
    FROM judge_stats j JOIN runs r ON r.run_id = j.run_id
    WINDOW w AS (PARTITION BY r.pact_id, r.agent, j.judge ORDER BY r.started_at);

    CREATE VIEW v_run_cost AS
    WITH t AS (
        SELECT run_id, count(*) AS cases, count(error) AS target_errors, sum(tokens_in) AS target_tokens_in,
               sum(tokens_out) AS target_tokens_out, sum(cost_usd) AS target_cost_usd,
               count(*) - count(cost_usd) AS target_unpriced
        FROM transcripts GROUP BY run_id),
    j AS (
        SELECT run_id, sum(votes) AS votes,
               {_judge_spend("judge_calls", "judge_tokens_in", "judge_tokens_out", "judge_cost_usd", "judge_unpriced")}
        FROM vote_rollup GROUP BY run_id)
    SELECT r.pact_id, r.agent, r.agent_version, r.run_id, r.started_at, s.status, coalesce(t.cases, 0) AS cases,
           coalesce(t.target_errors, 0) AS target_errors, t.target_tokens_in, t.target_tokens_out, t.target_cost_usd,
           coalesce(t.target_unpriced, 0) AS target_unpriced, coalesce(j.votes, 0) AS votes,
           coalesce(j.judge_calls, 0) AS judge_calls, coalesce(j.cached_votes, 0) AS cached_votes,
           j.judge_tokens_in, j.judge_tokens_out, j.judge_cost_usd, coalesce(j.judge_unpriced, 0) AS judge_unpriced,
           CASE WHEN t.target_cost_usd IS NULL AND j.judge_cost_usd IS NULL THEN NULL
                ELSE coalesce(t.target_cost_usd, 0) + coalesce(j.judge_cost_usd, 0) END AS known_cost_usd,
           coalesce(t.target_unpriced, 0) + coalesce(j.judge_unpriced, 0) AS unpriced_calls
    FROM runs r LEFT JOIN v_run_status s ON s.run_id = r.run_id
    LEFT JOIN t ON t.run_id = r.run_id LEFT JOIN j ON j.run_id = r.run_id;

    CREATE VIEW v_judge_cost AS
    SELECT r.pact_id, r.agent, r.agent_version, r.run_id, r.started_at, v.judge, v.model, v.votes, v.calls,
           v.cached_votes, v.abstains, v.tokens_in, v.tokens_out, v.cost_usd, v.unpriced_calls, v.mean_latency_ms
    FROM (SELECT run_id, judge, model, sum(votes) AS votes, sum(abstains) AS abstains,
                 {_judge_spend("calls", "tokens_in", "tokens_out", "cost_usd", "unpriced_calls")},
                 sum(latency_ms) FILTER (WHERE NOT cached) / sum(votes) FILTER (WHERE NOT cached) AS mean_latency_ms
          FROM vote_rollup GROUP BY run_id, judge, model) v
    JOIN runs r ON r.run_id = v.run_id;

    CREATE VIEW v_clause_cost AS
    SELECT r.pact_id, r.agent, r.agent_version, r.run_id, r.started_at, v.clause_id, v.votes, v.calls,
           v.cached_votes, v.tokens_in, v.tokens_out, v.cost_usd, v.unpriced_calls
    FROM (SELECT run_id, clause_id, sum(votes) AS votes,
                 {_judge_spend("calls", "tokens_in", "tokens_out", "cost_usd", "unpriced_calls")}
          FROM vote_rollup GROUP BY run_id, clause_id) v
    JOIN runs r ON r.run_id = v.run_id;

    -- Evidence: a finished run's clause result with at least one decided verdict (pass, fail or error).
    CREATE VIEW v_evidence_age AS
    SELECT pact_id, agent, clause_id, count(*) AS runs,
           count(*) FILTER (WHERE passed + failed + errors > 0) AS runs_with_evidence,
           max(finished_at) FILTER (WHERE passed + failed + errors > 0) AS last_evidence_at,
           arg_max(run_id, finished_at) FILTER (WHERE passed + failed + errors > 0) AS last_run_id,
           arg_max_null(agent_version, finished_at) FILTER (WHERE passed + failed + errors > 0) AS last_agent_version,
           arg_max(status, finished_at) FILTER (WHERE passed + failed + errors > 0) AS last_status,
           arg_max_null(rate, finished_at) FILTER (WHERE passed + failed + errors > 0) AS last_rate,
           max(finished_at) FILTER (WHERE status IN ('met', 'breached')) AS last_conclusive_at,
           epoch(current_timestamp - max(finished_at) FILTER (WHERE passed + failed + errors > 0)) AS age_s
    FROM v_clause_trend GROUP BY pact_id, agent, clause_id;
    """,
    ),
    # Decisions and human review (harness/decision.py, harness/review.py). Append-only: a human review adds
    # revisions of a run's clause results and decision; the originals in clause_results/decisions stay.
    (
        "0004_decisions_reviews",
        """
    ALTER TABLE clause_results ADD COLUMN confidence DOUBLE;
    ALTER TABLE clause_results ADD COLUMN cases_needed INTEGER;
    CREATE TABLE pacts (pact_hash VARCHAR PRIMARY KEY, pact_id VARCHAR NOT NULL, pact_version VARCHAR NOT NULL,
        spec VARCHAR NOT NULL, registered_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE human_labels (
        import_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL,
        label VARCHAR NOT NULL, reviewer VARCHAR NOT NULL, note VARCHAR, labelled_at TIMESTAMPTZ NOT NULL,
        source VARCHAR NOT NULL, source_row INTEGER NOT NULL, seq INTEGER NOT NULL);
    CREATE TABLE clause_result_revisions (
        run_id VARCHAR NOT NULL, revision INTEGER NOT NULL, clause_id VARCHAR NOT NULL, position INTEGER NOT NULL,
        severity VARCHAR NOT NULL, n INTEGER NOT NULL, passed INTEGER NOT NULL, failed INTEGER NOT NULL,
        errors INTEGER NOT NULL, pending INTEGER NOT NULL, inconclusive INTEGER NOT NULL, rate DOUBLE, ci_low DOUBLE,
        ci_high DOUBLE, threshold DOUBLE NOT NULL, status VARCHAR NOT NULL, confidence DOUBLE NOT NULL,
        cases_needed INTEGER, human_labels INTEGER NOT NULL, revised_at TIMESTAMPTZ NOT NULL,
        import_id VARCHAR NOT NULL, PRIMARY KEY (run_id, revision, clause_id));
    CREATE TABLE decision_revisions (
        run_id VARCHAR NOT NULL, revision INTEGER NOT NULL, pact_id VARCHAR NOT NULL, decision VARCHAR NOT NULL,
        reasons VARCHAR NOT NULL, rule_index INTEGER, decided_at TIMESTAMPTZ NOT NULL, import_id VARCHAR NOT NULL,
        PRIMARY KEY (run_id, revision));
    -- an agent's standing decision on a pact version: the latest evidence of each clause, possibly from several runs
    CREATE TABLE agent_decisions (
        decision_id VARCHAR PRIMARY KEY, decided_at TIMESTAMPTZ NOT NULL, agent VARCHAR, agent_version VARCHAR,
        pact_id VARCHAR NOT NULL, pact_version VARCHAR NOT NULL, pact_hash VARCHAR NOT NULL,
        decision VARCHAR NOT NULL, reasons VARCHAR NOT NULL, rule_index INTEGER, confidence DOUBLE NOT NULL,
        run_ids VARCHAR NOT NULL, trigger VARCHAR NOT NULL, trigger_ref VARCHAR);
    CREATE TABLE agent_decision_evidence (
        decision_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, run_id VARCHAR, revision INTEGER,
        status VARCHAR NOT NULL, finished_at TIMESTAMPTZ, age_s DOUBLE, window_s BIGINT NOT NULL,
        stale BOOLEAN NOT NULL, human_failures INTEGER NOT NULL, PRIMARY KEY (decision_id, clause_id));
    CREATE TABLE trust_scores (
        agent VARCHAR, pact_id VARCHAR NOT NULL, pact_hash VARCHAR NOT NULL, scored_at TIMESTAMPTZ NOT NULL,
        score DOUBLE, decision_id VARCHAR NOT NULL, components VARCHAR NOT NULL);
    """,
    ),
    # Adversarial cases (harness/adversarial.py): the mutator that made a case from `mutated_from`, and what it
    # did (JSON: seed, parameters, targeted clauses, detail); both NULL for an original case.
    (
        "0005_adversarial",
        """
    ALTER TABLE cases ADD COLUMN mutator VARCHAR;
    ALTER TABLE cases ADD COLUMN mutation VARCHAR;
    """,
    ),
    # Vote.abstain_code: why a vote abstained, countable ("unparseable", "call-failed"); NULL on older votes,
    # whose abstain_reason text says the same (Store.unparseable_counts reads both).
    (
        "0006_abstain_code",
        """
    ALTER TABLE votes ADD COLUMN abstain_code VARCHAR;
    """,
    ),
    # How a labelled item was chosen (harness/review.py): 'queue' (the disagreement queue), 'audit' (a seeded
    # random sample of the panel's verdicts, `review export --audit N --seed S`; audit_seed is S) or 'view' (picked
    # in `pactjury view`). NULL on older labels, which came from queue exports. Calibration is reported per selection.
    (
        "0007_label_selection",
        """
    ALTER TABLE human_labels ADD COLUMN selection VARCHAR;
    ALTER TABLE human_labels ADD COLUMN audit_seed BIGINT;
    """,
    ),
]
