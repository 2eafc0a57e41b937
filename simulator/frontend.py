"""The simulator's WSGI front end.

Graph API paths go straight to the world; the ``/_sim/`` control API (a Flask
blueprint) lets tests, demos and benches steer it.
"""

import json
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from simulator.constants import URL_SECRETS
from simulator.imaging import avatar_png
from simulator.imaging import feed_image
from simulator.imaging import sample_image
from simulator.records import GraphRequest
from simulator.world import GraphWorld


def _graph_world() -> GraphWorld:
    return current_app.extensions["graph_world"]


def _request_params(req: WerkzeugRequest) -> dict[str, str]:
    """Merge query string, form body and JSON body parameters (body wins)."""
    params = req.args.to_dict()
    params.update(req.form.to_dict())
    payload = req.get_json(silent=True) if req.is_json else None
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, bool):
                params[key] = "true" if value else "false"
            elif isinstance(value, dict | list):
                params[key] = json.dumps(value)
            elif value is not None:
                params[key] = str(value)
    return params


def _request_token(req: WerkzeugRequest, params: dict[str, str]) -> str | None:
    """Return the access token from ``Authorization`` (Bearer/OAuth) or parameters."""
    scheme, _, value = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return params.get("access_token") or None


def _graph_response(world: GraphWorld, req: WerkzeugRequest) -> WerkzeugResponse:
    """Answer any Graph API path (versioned or not) through the world."""
    params = _request_params(req)
    graph_request = GraphRequest(
        method=req.method,
        path=req.path,
        params=params,
        token=_request_token(req, params),
        token_in_url=any(name in req.args for name in URL_SECRETS),
        base_url=req.host_url,
    )
    reply = world.handle(graph_request)
    if isinstance(reply.body, str):
        response = WerkzeugResponse(reply.body, reply.status, mimetype="text/plain")
    else:
        body = json.dumps(reply.body, separators=(",", ":"))
        response = WerkzeugResponse(body, reply.status, mimetype="application/json")
    response.headers.update(reply.headers)
    return response


class _GraphFrontend:
    """Graph API paths go straight to the world; /_sim/ goes through Flask.

    Flask's dispatch (contexts, routing, hooks) cost more CPU per Graph call
    than the world's own work, and a burst test runs thousands of calls on the
    same cores as the app under test.
    """

    def __init__(self, flask_wsgi, world: GraphWorld) -> None:
        self.flask_wsgi = flask_wsgi
        self.world = world

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_sim/"):
            return self.flask_wsgi(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "POST", "DELETE"):
            response = WerkzeugResponse("Method not allowed", 405)
        else:
            response = _graph_response(self.world, WerkzeugRequest(environ))
        return response(environ, start_response)


control = Blueprint("sim_control", __name__, url_prefix="/_sim")


def _payload() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else {}


@control.errorhandler(LookupError)
def _control_not_found(error: LookupError):
    return jsonify(error=str(error).strip("'\"")), 404


@control.errorhandler(ValueError)
@control.errorhandler(TypeError)
def _control_bad_request(error: Exception):
    return jsonify(error=str(error)), 400


@control.post("/token")
def control_token():
    """Log a fake user in (what the JS SDK would do) and return the authResponse."""
    payload = _payload()
    if "fb_user_id" not in payload:
        raise ValueError("fb_user_id is required")
    return jsonify(
        _graph_world().issue_token(
            payload["fb_user_id"],
            app_id=payload.get("app_id"),
            expires_in=payload.get("expires_in"),
            scopes=payload.get("scopes"),
        )
    )


@control.post("/users")
def control_add_user():
    """Create a fake Facebook user with Pages and IG accounts."""
    payload = _payload()
    if not payload.get("name"):
        raise ValueError("name is required")
    return jsonify(_graph_world().add_user(payload["name"], payload.get("pages", [])))


@control.get("/users")
def control_users():
    """List the fake users with their Pages and IG accounts."""
    return jsonify(_graph_world().users())


@control.post("/pages/<page_id>/people")
def control_grant_page(page_id: str):
    """Give a Facebook user a role on a Page (``fb_user_id``, optional ``tasks``)."""
    payload = _payload()
    if "fb_user_id" not in payload:
        raise ValueError("fb_user_id is required")
    world = _graph_world()
    return jsonify(
        world.grant_page(page_id, payload["fb_user_id"], payload.get("tasks"))
    )


@control.post("/pages/<page_id>/people/<fb_user_id>/remove")
def control_revoke_page(page_id: str, fb_user_id: str):
    """Take a Facebook user's role on a Page away."""
    return jsonify(_graph_world().revoke_page(page_id, fb_user_id))


@control.get("/settings")
def control_settings():
    """Show the settings in force."""
    return jsonify(_graph_world().settings.as_dict())


@control.post("/settings")
def control_configure():
    """Change settings; answers with the settings in force afterwards."""
    world = _graph_world()
    world.configure(**_payload())
    return jsonify(world.settings.as_dict())


@control.post("/faults")
def control_add_fault():
    """Script a fault (``match``, ``response``, ``times``)."""
    payload = _payload()
    times = payload.get("times", 1)
    _graph_world().add_fault(
        payload.get("match", {}), payload.get("response", {}), times
    )
    return jsonify(ok=True)


@control.post("/invalidate")
def control_invalidate():
    """Invalidate every token of a user (190 with the given subcode afterwards)."""
    payload = _payload()
    if "fb_user_id" not in payload:
        raise ValueError("fb_user_id is required")
    _graph_world().invalidate_tokens(payload["fb_user_id"], payload.get("subcode", 460))
    return jsonify(ok=True)


@control.post("/reset")
def control_reset():
    """Reset the world to its built-in users and settings."""
    _graph_world().reset()
    return jsonify(ok=True)


@control.get("/published")
def control_published():
    """List every post media_publish created."""
    return jsonify(_graph_world().published())


@control.get("/calls")
def control_calls():
    """List every Graph call the simulator answered."""
    return jsonify(_graph_world().calls())


@control.get("/comments")
def control_comments():
    """List every comment made on a published post."""
    return jsonify(_graph_world().comments())


@control.get("/people")
def control_people():
    """List the Instagram accounts that can (or, private, cannot) be tagged."""
    return jsonify(_graph_world().people())


@control.post("/people")
def control_add_person():
    """Add an Instagram account people can tag (``private`` to refuse tags)."""
    payload = _payload()
    if not payload.get("username"):
        raise ValueError("username is required")
    _graph_world().add_person(payload["username"], private=bool(payload.get("private")))
    return jsonify(ok=True)


@control.get("/containers")
def control_containers():
    """List every media container with its current status."""
    return jsonify(_graph_world().containers())


@control.get("/avatar/<ig_user_id>.png")
def control_avatar(ig_user_id: str):
    """Serve the generated profile picture of an IG account."""
    if not _graph_world().has_ig_account(ig_user_id):
        return jsonify(error=f"unknown IG account {ig_user_id}"), 404
    return Response(avatar_png(ig_user_id), mimetype="image/png")


@control.get("/image/<int:width>x<int:height>.<ext>")
def control_image(width: int, height: int, ext: str):
    """Serve a generated image (jpg, png or mpo) for demos and crawler tests."""
    formats = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png")}
    formats["mpo"] = ("MPO", "image/jpeg")
    if ext not in formats or not (0 < width <= 4000 and 0 < height <= 4000):
        return jsonify(error="use /_sim/image/<w>x<h>.jpg|png|mpo up to 4000 px"), 404
    image_format, mimetype = formats[ext]
    return Response(sample_image(width, height, image_format), mimetype=mimetype)


@control.get("/cdn/<media_id>.jpg")
def control_cdn(media_id: str):
    """Serve a post's picture like Meta's CDN: only while its signed URL is valid."""
    try:
        width, height = _graph_world().cdn_picture(
            media_id, request.args.get("oe", ""), request.args.get("oh", "")
        )
    except PermissionError as error:
        return Response(str(error), 403, mimetype="text/plain")
    return Response(
        feed_image(media_id, width, height),
        mimetype="image/jpeg",
        headers={"Cache-Control": "max-age=1209600, no-transform"},
    )


@control.get("/usage")
def control_usage():
    """Show the app's rate-limit usage (and an account's, ``?ig_user_id=``)."""
    return jsonify(_graph_world().usage(request.args.get("ig_user_id")))


def create_simulator(world: GraphWorld | None = None) -> Flask:
    """Build the simulator WSGI app; its world is ``app.extensions["graph_world"]``."""
    app = Flask("simulator")  # the package name, as Flask advises for packages
    app.json.sort_keys = False
    world = world if world is not None else GraphWorld()
    app.extensions["graph_world"] = world
    app.register_blueprint(control)
    app.wsgi_app = _GraphFrontend(app.wsgi_app, world)
    return app
