"""The service layer: the one place the CLI, the web app (kbqa.ui) and a REST server call.

Everything here takes the settings it should use and returns data (no translated strings; the
UI translates codes). Cheap to import: models, torch and the stores load on first use.

    from kbqa.service import Service
    with Service(Settings.load()) as service:
        conversation = service.conversation("manuals", session_settings)
        for event in conversation.stream("如何配置代理？"):
            ...

`Service` (service.py): one per process or server.
    .kbs            `KnowledgeBases` registry: names(), exists(), open(name, create=),
                    create(name), delete(name), info(name) -> KBInfo, writing(name) -> Lock.
    .models         `ModelCache` (kbqa/llm/cache.py).
    .conversation(kb, settings, qa_template=) -> kbqa.chain.conversation.Conversation, with its
                    own settings (k, mode, threshold, cut-off, prompts, model) and the shared
                    model cache; assign `.settings` to change them between turns.
    .stream(question, kb=, history=, settings=) -> Iterator[AnswerEvent]  (stateless: a REST
                    request's `messages` as history); .ask(...) -> Answer.
    .search(query, kb=, settings=, mode=, sources=) -> list[Hit].
    .files(kb) -> list[FileRecord]; .upload(files, kb=, progress=) -> UploadReport (one
                    FileResult per file: status added|updated|unchanged|failed|rejected, code,
                    params); .remove_file(doc, kb=) -> int; .reindex(kb=) -> IngestReport;
                    .find_original(doc, source, kb=) -> Path | None.
    .preload(settings) loads a model in the background; .close() waits for it, then closes
                    every model and knowledge base (also `with Service(...)`).

`ModelCache` (kbqa/llm/cache.py): the one cache of loaded chat backends. lease(settings) -> Lease
    (keeps the backend from being closed), use(settings) -> context manager holding the
    backend's lock (one request per backend at a time), preload(settings), status() ->
    list[ModelStatus], is_ready(settings), loading(), evict(settings), close(). An
    evicted backend is closed only when its last lease is released. `model_key(settings)`
    (whole Settings: a model is converted and loaded under settings.home).

Uploads (uploads.py): accept_uploads(files, dest, allowed=, max_bytes=) -> UploadBatch
    (accepted paths, rejected `Rejection(name, code, params)` with `.message`, renamed, finish()),
    sanitize_filename, check_type, allowed_extensions, upload_dir, stored_original, MIB.

Access (access.py): is_loopback, parse_auth, check_binding(host, auth) (UnsafeBinding when a
    non-loopback address has no login), check_token_binding(host, token) for `kbqa serve`,
    check_login(user, password, expected), check_bearer(header, token), same_secret (constant
    time).

Errors (errors.py): ServiceError(code, status, params) and its kinds UnsafeBinding,
    InvalidCredentials, KnowledgeBaseNotFound, KnowledgeBaseExists (a closed service's model cache
    raises kbqa.errors.ModelCacheClosed, code "closed");
    error_info(exception) -> ErrorInfo(code, message, status, params, user_error) for any error.
"""

from __future__ import annotations

from kbqa.llm.cache import Lease, ModelCache, ModelStatus, model_key
from kbqa.service.access import (
    check_bearer,
    check_binding,
    check_login,
    check_token_binding,
    is_loopback,
    parse_auth,
)
from kbqa.service.errors import (
    ErrorInfo,
    InvalidCredentials,
    KnowledgeBaseExists,
    KnowledgeBaseNotFound,
    ServiceError,
    UnsafeBinding,
    error_info,
)
from kbqa.service.kbs import KBInfo, KnowledgeBases
from kbqa.service.service import FileResult, Service, UploadReport
from kbqa.service.uploads import Rejection, UploadBatch, accept_uploads, sanitize_filename

__all__ = [
    "ErrorInfo",
    "FileResult",
    "InvalidCredentials",
    "KBInfo",
    "KnowledgeBaseExists",
    "KnowledgeBaseNotFound",
    "KnowledgeBases",
    "Lease",
    "ModelCache",
    "ModelStatus",
    "Rejection",
    "Service",
    "ServiceError",
    "UnsafeBinding",
    "UploadBatch",
    "UploadReport",
    "accept_uploads",
    "check_bearer",
    "check_binding",
    "check_login",
    "check_token_binding",
    "error_info",
    "is_loopback",
    "model_key",
    "parse_auth",
    "sanitize_filename",
]
