"""The OCI Distribution Spec v1.1 routes under /v2/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.access import authorize, gate, may, require_login
from dockyard.api.blob_response import blob_response
from dockyard.auth.actions import Action
from dockyard.auth.policy import ProjectFacts, decide, project_of
from dockyard.auth.principal import Principal
from dockyard.errors import Code, RegistryError
from dockyard.oci.names import InvalidName, validate_name
from dockyard.registry.listing import Page, parse_page_size
from dockyard.registry.manifests import manifest_too_large
from dockyard.registry.services import Registry
from dockyard.registry.uploads import upload_headers

OCI_INDEX = "application/vnd.oci.image.index.v1+json"

Endpoint = Callable[[Request], Awaitable[Response]]
# What a route needs: an action, or a function of the request that says which.
Need = Action | Callable[[Request], Action]


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _name(request: Request) -> str:
    try:
        return validate_name(request.path_params["name"])
    except InvalidName as exc:
        raise RegistryError(Code.NAME_INVALID, str(exc)) from None


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise RegistryError(Code.SIZE_INVALID, f"Content-Length {value!r} is not a number")
    return int(value)


def _created(location: str, digest: str, **extra: str) -> Response:
    headers = {"Location": location, "Docker-Content-Digest": digest, **extra}
    return Response(status_code=201, headers=headers)


async def base(request: Request) -> Response:
    await require_login(request)
    return JSONResponse({})


async def start_upload(request: Request) -> Response:
    name, registry, query = _name(request), _registry(request), request.query_params
    if "mount" in query and "from" in query and await _may_pull(request, query["from"]):
        mounted = await registry.uploads.mount(name, query["mount"], query["from"])
        if mounted is not None:
            return _created(f"/v2/{name}/blobs/{mounted}", str(mounted))
    if "digest" in query:
        digest = await registry.uploads.upload_monolithic(
            name, query["digest"], request.stream(), _content_length(request)
        )
        return _created(f"/v2/{name}/blobs/{digest}", str(digest))
    state = await registry.uploads.start(name)
    return Response(status_code=202, headers=upload_headers(state))


async def _may_pull(request: Request, source: str) -> bool:
    """A mount from a repository the pusher may not pull falls back to a plain upload."""
    try:
        name = validate_name(source)
    except InvalidName as exc:
        raise RegistryError(Code.NAME_INVALID, f"mount source: {exc}") from None
    return await may(request, Action.PULL, name)


async def upload_status(request: Request) -> Response:
    name = _name(request)
    state = await _registry(request).uploads.status(name, request.path_params["upload_id"])
    return Response(status_code=204, headers=upload_headers(state))


async def upload_chunk(request: Request) -> Response:
    name = _name(request)
    state = await _registry(request).uploads.append(
        name,
        request.path_params["upload_id"],
        request.stream(),
        request.headers.get("content-range"),
        _content_length(request),
    )
    return Response(status_code=202, headers=upload_headers(state))


async def finish_upload(request: Request) -> Response:
    name = _name(request)
    digest = await _registry(request).uploads.finish(
        name,
        request.path_params["upload_id"],
        request.query_params.get("digest"),
        request.stream(),
        request.headers.get("content-range"),
        _content_length(request),
    )
    return _created(f"/v2/{name}/blobs/{digest}", str(digest))


async def cancel_upload(request: Request) -> Response:
    name = _name(request)
    await _registry(request).uploads.cancel(name, request.path_params["upload_id"])
    return Response(status_code=204)


async def get_blob(request: Request) -> Response:
    name, registry = _name(request), _registry(request)
    info = await registry.blobs.stat(name, request.path_params["digest"])
    return await blob_response(request, registry.storage, info, registry.blob_redirect_seconds)


async def delete_blob(request: Request) -> Response:
    name = _name(request)
    await _registry(request).blobs.unlink(name, request.path_params["digest"])
    return Response(status_code=202)


async def get_manifest(request: Request) -> Response:
    name = _name(request)
    accept = request.headers.getlist("accept")
    record = await _registry(request).manifests.get(
        name,
        request.path_params["reference"],
        accept,
        pulled=request.method == "GET",
        puller=getattr(request.state, "principal", None),  # set by the access check
    )
    headers = {"Docker-Content-Digest": record.digest, "ETag": f'"{record.digest}"'}
    if request.method == "HEAD":
        headers["Content-Length"] = str(record.size)
        return Response(status_code=200, headers=headers, media_type=record.media_type)
    return Response(record.payload, headers=headers, media_type=record.media_type)


async def put_manifest(request: Request) -> Response:
    name, registry = _name(request), _registry(request)
    limit = registry.manifests.max_bytes
    length = _content_length(request)
    if length is not None and length > limit:
        raise manifest_too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise manifest_too_large(limit)
    result = await registry.manifests.put(
        name, request.path_params["reference"], bytes(body), request.headers.get("content-type")
    )
    extra = {"OCI-Subject": result.subject} if result.subject else {}
    return _created(f"/v2/{name}/manifests/{result.digest}", result.digest, **extra)


async def delete_manifest(request: Request) -> Response:
    name = _name(request)
    await _registry(request).manifests.delete(name, request.path_params["reference"])
    return Response(status_code=202)


def _paged(request: Request, key: str, page: Page, extra: dict[str, object]) -> Response:
    headers = {}
    if page.next_last is not None:
        n = request.query_params.get("n")
        headers["Link"] = f'<{request.url.path}?n={n}&last={quote(page.next_last)}>; rel="next"'
    return JSONResponse({**extra, key: page.items}, headers=headers)


async def list_tags(request: Request) -> Response:
    name = _name(request)
    n = parse_page_size(request.query_params.get("n"))
    page = await _registry(request).listing.tags(name, n, request.query_params.get("last"))
    return _paged(request, "tags", page, {"name": name})


async def catalog(request: Request) -> Response:
    principal = await _catalog_reader(request)
    n = parse_page_size(request.query_params.get("n"))
    listing, last = _registry(request).listing, request.query_params.get("last")
    if principal.is_admin:
        page = await listing.catalog(n, last)
    else:
        page = await listing.catalog_filtered(n, last, _pull_checker(request, principal))
    return _paged(request, "repositories", page, {})


async def _catalog_reader(request: Request) -> Principal:
    """Anyone logged in lists the repositories they may pull; a token must carry
    `registry:catalog:*` and then stands for its subject as they are now."""
    principal = await require_login(request)
    if principal.token is None:
        return principal
    access = gate(request).access
    if principal.token.allows("registry", "catalog", "*"):
        current = await access.reload(principal.kind, principal.name)
        if current is not None:
            return current
    raise RegistryError(Code.DENIED, "the token does not allow listing the catalog")


def _pull_checker(request: Request, principal: Principal) -> Callable[[str], Awaitable[bool]]:
    access, facts_by_project = gate(request).access, dict[str, ProjectFacts]()
    store = _registry(request).store

    async def visible(repository: str) -> bool:
        project = project_of(repository)
        if project not in facts_by_project:
            async with store.transaction(readonly=True) as tx:
                facts_by_project[project] = await access.facts(tx, project, principal)
        return bool(decide(principal, Action.PULL, facts_by_project[project], repository))

    return visible


async def referrers(request: Request) -> Response:
    name = _name(request)
    artifact_type = request.query_params.get("artifactType") or None  # empty: no filter
    result = await _registry(request).referrers.list(
        name, request.path_params["digest"], artifact_type
    )
    headers = {"OCI-Filters-Applied": "artifactType"} if result.filtered else {}
    return JSONResponse(result.index, headers=headers, media_type=OCI_INDEX)


def _delete_manifest_need(request: Request) -> Action:
    reference = request.path_params["reference"]
    return Action.DELETE if ":" in reference else Action.TAG_DELETE


def _guarded(handler: Endpoint, need: Need) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        action = need if isinstance(need, Action) else need(request)
        await authorize(request, action, _name(request))
        return await handler(request)

    return endpoint


def _methods(path: str, **handlers: tuple[Endpoint, Need]) -> Route:
    """One route per URL, so a wrong method gets a 405 whose Allow lists every method; each
    method declares the action it needs on the repository in the URL."""
    guarded = {method: _guarded(*spec) for method, spec in handlers.items()}

    async def dispatch(request: Request) -> Response:
        method = "get" if request.method == "HEAD" else request.method.lower()
        return await guarded[method](request)

    return Route(path, dispatch, methods=[m.upper() for m in handlers])


_NAME = "/v2/{name:path}"
_UPLOAD = f"{_NAME}/blobs/uploads/{{upload_id}}"

routes = [
    Route("/v2/", base, methods=["GET"]),
    Route("/v2/_catalog", catalog, methods=["GET"]),
    _methods(f"{_NAME}/tags/list", get=(list_tags, Action.PULL)),
    _methods(
        f"{_NAME}/manifests/{{reference}}",
        get=(get_manifest, Action.PULL),
        put=(put_manifest, Action.PUSH),
        delete=(delete_manifest, _delete_manifest_need),
    ),
    _methods(f"{_NAME}/blobs/uploads/", post=(start_upload, Action.PUSH)),
    _methods(f"{_NAME}/blobs/uploads", post=(start_upload, Action.PUSH)),
    _methods(
        _UPLOAD,
        get=(upload_status, Action.PUSH),
        patch=(upload_chunk, Action.PUSH),
        put=(finish_upload, Action.PUSH),
        delete=(cancel_upload, Action.PUSH),
    ),
    _methods(
        f"{_NAME}/blobs/{{digest}}",
        get=(get_blob, Action.PULL),
        delete=(delete_blob, Action.DELETE),
    ),
    _methods(f"{_NAME}/referrers/{{digest}}", get=(referrers, Action.PULL)),
]
