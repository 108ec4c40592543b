"""Tag-based routing (``router_settings.enable_tag_filtering``), as LiteLLM defines it.

- A request with tags (body ``tags`` or ``metadata.tags``) goes to the
  deployments carrying any of them (all of them with
  ``tag_filtering_match_any: false``); when none does, to the deployments
  tagged ``default``; when there are none either, it is refused with a 400
  that names the tags each deployment serves (never a silent pick).
- A request without tags goes to the ``default`` deployments when the group
  has any, else to every deployment.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import InvalidRequest
from gateway.router.groups import Deployment, ModelGroup

DEFAULT_TAG = "default"


def tagged(
    group: ModelGroup, tags: Sequence[str] | None, *, match_any: bool
) -> frozenset[str] | None:
    """The ids of the deployments that may serve, or None when all of them may."""
    defaults = frozenset(d.id for d in group.deployments if DEFAULT_TAG in _tags(d))
    if not tags:
        return defaults or None
    wanted = set(tags)
    matching = frozenset(
        d.id for d in group.deployments if (wanted & _tags(d) if match_any else wanted <= _tags(d))
    )
    if matching:
        return matching
    if defaults:
        return defaults
    served = "; ".join(
        f"{d.id}: {', '.join(sorted(_tags(d))) or 'no tags'}" for d in group.deployments
    )
    rule = "any" if match_any else "all"
    raise InvalidRequest(
        f"No deployment of {group.name!r} serves {rule} of the tags {sorted(wanted)} and none "
        f"is tagged 'default'. Deployments and their tags: {served}.",
        param="tags",
    )


def _tags(deployment: Deployment) -> set[str]:
    return set(deployment.spec.params.tags or ())
