/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state: cluster.rkestate, the file in which rkc keeps what it has done to a cluster.
 *
 * The file is JSON (through adapters/jval only):
 *     { "desiredState": {...}, "currentState": {...}, "encryption": {...} }
 * desiredState/currentState are RKE's (rkeConfig, certificatesBundle, encryptionConfig) and
 * are kept as opaque JSON with accessors; unknown keys in them and at the top level are
 * preserved. The `encryption` section is rkc's own and is parsed strictly into typed
 * structures (mode, active config, retired-keys archive, pending operation, history,
 * schema version); see docs/internals/state.md for every field.
 *
 * Rules this module enforces:
 *  - state_open() takes an exclusive lock (`<path>.lock`, flock) before it reads anything and
 *    holds it until state_close(). A second rkc gets RKC_EBUSY and
 *    "another rkc (pid N) holds <path>" and touches nothing.
 *  - state_save() writes with fs_write_atomic(): temp file, fsync, rename, fsync of the
 *    directory, mode 0600. A crash leaves the old file or the new one, never a mix; temp
 *    files a crash left behind are removed by the next save.
 *  - A file that cannot be parsed (bad JSON, wrong top-level type, a wrong type or value in
 *    a section, a schema version newer than ours) is never overwritten: state_open() fails
 *    with a positioned message ("cluster.rkestate:3:7: ..."), or, with STATE_OPEN_KEEP_BROKEN,
 *    returns a state on which state_save() refuses.
 *  - The file holds key material. Nothing here logs it or puts it in a message; buffers
 *    that held it are wiped when released.
 *
 * A struct rkc_state is not thread-safe; one owner at a time.
 */
#ifndef RKC_CORE_STATE_H
#define RKC_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "adapters/jval.h"
#include "util/error.h"

/* The schema version this rkc reads and writes (`encryption.version`). */
#define STATE_SCHEMA_VERSION 1
/* Finished operations kept in `encryption.history` (oldest dropped first). */
#define STATE_HISTORY_MAX 50
/* A larger state file is refused with RKC_ELIMIT. */
#define STATE_MAX_FILE_SIZE ((size_t)64 * 1024 * 1024)
/* "2024-05-01T12:00:00Z" plus NUL. */
#define STATE_TIME_SIZE 21
/* Lowercase hex sha256 plus NUL. */
#define STATE_HASH_SIZE 65

struct rkc_state;

enum state_open_flags {
    STATE_OPEN_DEFAULT = 0,
    /* An absent file is RKC_ENOTFOUND instead of an empty new state. */
    STATE_OPEN_MUST_EXIST = 1 << 0,
    /*
     * An unparseable file does not fail the open: the state is returned with
     * state_is_broken() true and the parse error in state_broken_error(); its accessors
     * report an empty state and state_save() refuses. For commands that only need the lock
     * or a backup of the bad file.
     */
    STATE_OPEN_KEEP_BROKEN = 1 << 1,
    /*
     * Read-only: no lock is taken (a running rkc does not block it), state_save() refuses.
     * The file is read atomically (it is only ever replaced by rename), so what is read is
     * one consistent version. For `rkc encrypt status`.
     */
    STATE_OPEN_READ_ONLY = 1 << 2,
};

enum state_which {
    STATE_DESIRED,
    STATE_CURRENT,
};

enum state_enc_mode {
    STATE_ENC_DISABLED,
    STATE_ENC_MANAGED,
    STATE_ENC_CUSTOM,
};

enum state_op_kind {
    STATE_OP_ENABLE,
    STATE_OP_DISABLE,
    STATE_OP_ROTATE,
    STATE_OP_APPLY_CUSTOM,
    STATE_OP_RESTORE_REKEY,
};

/* In the order an operation goes through them (verify may go back to rewrite). */
enum state_op_phase {
    STATE_PHASE_PREPARE,
    STATE_PHASE_PROMOTE,
    STATE_PHASE_REWRITE,
    STATE_PHASE_VERIFY,
    STATE_PHASE_PRUNE,
    STATE_PHASE_DONE,
};

enum state_op_outcome {
    STATE_OUTCOME_SUCCEEDED,
    STATE_OUTCOME_ABANDONED,
};

/*
 * The typed records below are both what the accessors return (borrowed, owned by the state)
 * and what callers fill in to add one (the state copies every string). Fields are const so
 * that literals can be passed.
 */

/* A key that left the provider config, kept so that old snapshots stay restorable. */
struct state_retired_key {
    const char *name;        /* "k-ab12c" */
    const char *provider;    /* "aescbc", "aesgcm", "secretbox", ... */
    const char *secret;      /* standard base64; SECRET: never log or print */
    const char *fingerprint; /* identifies the key without revealing it, e.g. "sha256:..." */
    const char *retired_at;  /* RFC 3339 UTC, "2024-05-01T12:00:00Z" */
    const char *reason;      /* "rotate", "disable", ... (free text, no secrets) */
};

/* The pending encryption operation (DESIGN.md §4). */
struct state_operation {
    enum state_op_kind kind;
    enum state_op_phase phase;
    const char *started_at; /* RFC 3339 UTC */
    const char
        *target_config; /* provider config YAML the operation ends on; NULL for disable. SECRET */
    const char *previous_config; /* provider config YAML before it began; NULL when none. SECRET */
    int64_t attempt;             /* 1 on the first run, +1 each time it is resumed */
};

/* A finished operation (no key material). */
struct state_history_entry {
    enum state_op_kind kind;
    enum state_op_outcome outcome;
    const char *started_at;  /* RFC 3339 UTC */
    const char *finished_at; /* RFC 3339 UTC */
    int64_t attempts;
    const char *summary; /* optional short text, NULL when none */
};

/*
 * Locks and loads the state file at path (the lock is `<path>.lock` beside it; the
 * directory must exist). An absent file gives an empty state (state_is_new()) unless
 * STATE_OPEN_MUST_EXIST.
 * Returns: new state in *ret (free with state_close). Errors: RKC_EBUSY "another rkc (pid N)
 * holds <path>"; RKC_ECONFIG "<path>:line:col: ..." for an unparseable file; RKC_ELIMIT
 * for a file larger than STATE_MAX_FILE_SIZE; RKC_ENOTFOUND; RKC_EIO. On failure the lock is
 * released and nothing was written.
 */
enum rkc_err state_open(const char *path, enum state_open_flags flags, struct rkc_state **ret,
                        struct rkc_error *err);

/*
 * Writes the state to its file atomically with mode 0600 (pretty JSON), then removes temp
 * files earlier crashes left beside it. Errors: RKC_ECONFIG when the state was loaded
 * broken (the file is left alone); RKC_EIO.
 */
enum rkc_err state_save(struct rkc_state *st, struct rkc_error *err);

/*
 * Copies the state file as it is on disk to `<path>.<suffix>` atomically, mode 0600.
 * suffix NULL means "pre-restore-<UTC time>" (e.g. cluster.rkestate.pre-restore-
 * 20240501T120000Z). A suffix must not contain '/' or be empty.
 * Returns: the new file's path in *ret_path (new, may be NULL to ignore). RKC_ENOTFOUND when
 * there is no state file yet; RKC_EINVAL for a bad suffix; RKC_EIO.
 */
enum rkc_err state_backup(const struct rkc_state *st, const char *suffix, char **ret_path,
                          struct rkc_error *err);

/* Releases the lock and frees everything, wiping key material. No-op on NULL. */
void state_close(struct rkc_state *st);

/* Returns: borrowed path given to state_open. */
const char *state_path(const struct rkc_state *st);
/* True when no state file existed at open (and none was saved since). */
bool state_is_new(const struct rkc_state *st);
/* True when the file could not be parsed (STATE_OPEN_KEEP_BROKEN only). */
bool state_is_broken(const struct rkc_state *st);
/* Returns: borrowed parse error of a broken state, or NULL. */
const struct rkc_error *state_broken_error(const struct rkc_state *st);
/*
 * Returns: borrowed warning for the caller to log (the file was readable by group or
 * others; the next save tightens it to 0600), or NULL. Core code never prints.
 */
const char *state_warning(const struct rkc_state *st);
/* True when the file had an `encryption` section (false for a new or RKE-written state). */
bool state_encryption_recorded(const struct rkc_state *st);

/* ---- desiredState / currentState (opaque RKE data) ---- */

/* Returns: borrowed rkeConfig object of the given state, or NULL when absent. */
const struct jval *state_rke_config(const struct rkc_state *st, enum state_which which);
/* Replaces rkeConfig (an object, or NULL to remove), stealing the caller's reference. */
void state_set_rke_config_take(struct rkc_state *st, enum state_which which, struct jval *config);
/* Returns: borrowed certificatesBundle object, or NULL when absent. */
const struct jval *state_certificates(const struct rkc_state *st, enum state_which which);
/* Replaces certificatesBundle (an object, or NULL to remove), stealing the reference. */
void state_set_certificates_take(struct rkc_state *st, enum state_which which, struct jval *bundle);
/* Returns: borrowed encryptionConfig text (key material!), or NULL when absent. */
const char *state_encryption_config(const struct rkc_state *st, enum state_which which);
/*
 * Sets encryptionConfig to a copy of yaml, or removes it when yaml is NULL. yaml must be valid
 * UTF-8 (anything libyaml read is); invalid text is a bug (abort).
 */
void state_set_encryption_config(struct rkc_state *st, enum state_which which, const char *yaml);

/* ---- encryption: mode and active config ---- */

enum state_enc_mode state_enc_mode(const struct rkc_state *st);
void state_set_enc_mode(struct rkc_state *st, enum state_enc_mode mode);
/* Returns: borrowed active provider config (canonical YAML, key material!), or NULL. */
const char *state_active_config(const struct rkc_state *st);
/* Returns: borrowed lowercase hex sha256 of the active config, or NULL. */
const char *state_active_hash(const struct rkc_state *st);
/*
 * Records the active config (copied) and its sha256 (computed by the caller, 64 lowercase
 * hex digits). yaml NULL clears both. Errors: RKC_EINVAL for a malformed hash or text that
 * is not UTF-8.
 */
enum rkc_err state_set_active(struct rkc_state *st, const char *yaml, const char *sha256_hex,
                              struct rkc_error *err);

/* ---- encryption: retired-keys archive ---- */

size_t state_retired_count(const struct rkc_state *st);
/* Returns: borrowed entry idx (oldest first), or NULL past the end. */
const struct state_retired_key *state_retired_at(const struct rkc_state *st, size_t idx);
/* Returns: borrowed entry with that name or fingerprint, or NULL. */
const struct state_retired_key *state_retired_find(const struct rkc_state *st, const char *name);
const struct state_retired_key *state_retired_find_fingerprint(const struct rkc_state *st,
                                                               const char *fingerprint);
/*
 * Archives a copy of key (every field but reason required; retired_at RFC 3339 UTC).
 * Re-archiving the same name with the same fingerprint is a no-op (operations are resumed).
 * Errors: RKC_EINVAL for a missing/malformed field (strings must be UTF-8) or a name archived
 * with another fingerprint (the message names the key, never the secret).
 */
enum rkc_err state_retire_key(struct rkc_state *st, const struct state_retired_key *key,
                              struct rkc_error *err);
/* Removes the entry with that name; returns false when there was none. */
bool state_retired_remove(struct rkc_state *st, const char *name);

/* ---- encryption: the pending operation and history ---- */

/* Returns: borrowed pending operation, or NULL when none. */
const struct state_operation *state_operation(const struct rkc_state *st);
/*
 * Starts an operation from a copy of op (started_at required, attempt 0 means 1).
 * Errors: RKC_EBUSY when one is already pending ("operation 'rotate' is already pending in
 * phase 'rewrite'"); RKC_EINVAL for a malformed field.
 */
enum rkc_err state_operation_begin(struct rkc_state *st, const struct state_operation *op,
                                   struct rkc_error *err);
/* Moves the pending operation to phase. RKC_EINVAL when none is pending. */
enum rkc_err state_operation_set_phase(struct rkc_state *st, enum state_op_phase phase,
                                       struct rkc_error *err);
/* Counts one more attempt of the pending operation (on resume). RKC_EINVAL when none. */
enum rkc_err state_operation_bump_attempt(struct rkc_state *st, struct rkc_error *err);
/*
 * Ends the pending operation: appends it to the history with outcome, finished_at (RFC 3339
 * UTC) and summary (may be NULL; no secrets), drops the oldest entries beyond
 * STATE_HISTORY_MAX, and clears the pending operation. RKC_EINVAL when none is pending.
 */
enum rkc_err state_operation_finish(struct rkc_state *st, enum state_op_outcome outcome,
                                    const char *finished_at, const char *summary,
                                    struct rkc_error *err);

size_t state_history_count(const struct rkc_state *st);
/* Returns: borrowed entry idx (oldest first), or NULL past the end. */
const struct state_history_entry *state_history_at(const struct rkc_state *st, size_t idx);

/* ---- names and times ---- */

/* Returns: static name as stored ("managed", "apply-custom", "rewrite", "succeeded"). */
const char *state_enc_mode_name(enum state_enc_mode mode);
const char *state_op_kind_name(enum state_op_kind kind);
const char *state_op_phase_name(enum state_op_phase phase);
const char *state_op_outcome_name(enum state_op_outcome outcome);
/* Parse a stored name; false when unknown. */
bool state_enc_mode_parse(const char *s, enum state_enc_mode *ret);
bool state_op_kind_parse(const char *s, enum state_op_kind *ret);
bool state_op_phase_parse(const char *s, enum state_op_phase *ret);
bool state_op_outcome_parse(const char *s, enum state_op_outcome *ret);

/* Formats t as RFC 3339 UTC ("2024-05-01T12:00:00Z") into out. */
void state_format_time(time_t t, char out[STATE_TIME_SIZE]);
/* True when s is exactly an RFC 3339 UTC time as state_format_time() writes it. */
bool state_time_valid(const char *s);

#endif
