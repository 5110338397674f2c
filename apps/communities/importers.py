"""Import private-domain community memberships; unknown communities and customers are created."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.communities.models import Community, CommunityKind, CommunityMembership
from apps.core.importing import Column, ImportResult, ImportRun, RecordParser, StagingTable, upsert
from apps.core.importing import fields as f
from apps.customers.importers import customers_stage_seen, customers_upsert_seen
from apps.customers.selectors import ErasedIds

KIND_ALIASES = {"微信群": "wechat_group", "企业微信": "wecom", "企微": "wecom"}


def memberships_import(
    *,
    brand: Brand,
    path=None,
    rows: Iterable[Mapping[str, object]] | None = None,
    name: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: bool = False,
    encoding: str | None = None,
) -> ImportResult:
    """Create or update membership spells keyed by (community, customer, joined_at). Communities the brand
    does not have are created from the row's community_name/community_kind (existing ones are left as
    they are); unknown customers are created. Spells of an erased customer (by the old id) go to the erased
    customer, or are errors when the brand refuses them."""
    run = ImportRun(
        entity=_("Community memberships"),
        path=path,
        rows=rows,
        name=name,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        progress=progress,
        encoding=encoding,
    )
    if run.failed:
        return run.finish(0)
    dates = f.DateTimeParser(brand.tzinfo)
    columns = [
        Column("community_id", f.external_id(), required=True),
        Column("customer_id", f.external_id(), required=True),
        Column("joined_at", dates, required=True),
        Column("community_name", f.text(200), default=""),
        Column("community_kind", f.ChoiceParser(CommunityKind.values, KIND_ALIASES), default=""),
        Column("left_at", dates),
        Column("activity_count", f.IntParser(0), default=0),
    ]
    parser = RecordParser(run.table, columns, run.log)
    present = parser.present
    communities: dict[str, list] = {}  # external id -> [name, kind, line of first name, line of first kind]
    seen: dict[tuple, int] = {}
    first_seen: dict[str, object] = {}
    staged_rows: list[list] = []
    differs = _("differs from line %(line)d of the same community")
    erased = ErasedIds(brand)
    with run.phase("parse"):
        for line, values in parser:
            community, customer, joined = values["community_id"], values["customer_id"], values["joined_at"]
            if (target := erased.target(customer)) is not None:
                if erased.refuse:
                    run.log.add(line, "customer_id", erased.reason)
                    continue
                customer = target
            left = values.get("left_at")
            if left is not None and left < joined:
                run.log.add(line, "left_at", _("must not be before joined_at"))
                continue
            key = (community, customer, joined)
            if key in seen:
                run.log.add(
                    line,
                    "joined_at",
                    _("the same community, customer and joined_at appear on line %(line)d")
                    % {"line": seen[key]},
                )
                continue
            info = communities.setdefault(community, ["", "", 0, 0])
            name_value, kind_value = values.get("community_name", ""), values.get("community_kind", "")
            if name_value and info[0] and name_value != info[0]:
                run.log.add(line, "community_name", differs % {"line": info[2]})
                continue
            if kind_value and info[1] and kind_value != info[1]:
                run.log.add(line, "community_kind", differs % {"line": info[3]})
                continue
            if name_value and not info[0]:
                info[0], info[2] = name_value, line
            if kind_value and not info[1]:
                info[1], info[3] = kind_value, line
            seen[key] = line
            if target is not None:
                erased.kept += 1
            known = first_seen.get(customer)
            if known is None or joined < known:
                first_seen[customer] = joined
            staged_rows.append([community, customer, joined, left, values.get("activity_count", 0)])
    if not run.may_write:
        return run.finish(parser.rows_read)

    now = timezone.now()
    with run.writing():
        with run.phase("copy"):
            customer_stage, customers_staged = customers_stage_seen(first_seen)
            community_stage = StagingTable(
                "_imp_communities", [("external_id", "text"), ("name", "text"), ("kind", "text")]
            ).create()
            communities_staged = community_stage.load(
                [ext, name or ext, kind or CommunityKind.OTHER.value]
                for ext, (name, kind, _a, _b) in communities.items()
            )
            stage = StagingTable(
                "_imp_memberships",
                [
                    ("community_ext", "text"),
                    ("customer_ext", "text"),
                    ("joined_at", "timestamptz"),
                    ("left_at", "timestamptz"),
                    ("activity_count", "integer"),
                ],
            ).create()
            staged = stage.load(staged_rows)
        with run.phase("upsert"):
            customers = customers_upsert_seen(
                brand=brand, stage=customer_stage, staged=customers_staged, now=now
            )
            created_communities = upsert(
                model=Community,
                brand_id=brand.pk,
                values={"external_id": "s.external_id", "name": "s.name", "kind": "s.kind"},
                source=f"{community_stage.name} s",
                conflict=["brand_id", "external_id"],
                update=[],
                staged=communities_staged,
                now=now,
            ).created
            update = [c for c in ("left_at", "activity_count") if c in present]
            values = {
                "community_id": "g.id",
                "customer_id": "c.id",
                "joined_at": "s.joined_at",
                "left_at": "s.left_at",
                "activity_count": "s.activity_count",
            }
            run.count(
                upsert(
                    model=CommunityMembership,
                    brand_id=brand.pk,
                    values=values,
                    source=(
                        f"{stage.name} s "
                        "JOIN communities_community g ON g.brand_id = %s AND g.external_id = s.community_ext "
                        "JOIN customers_customer c ON c.brand_id = %s AND c.external_id = s.customer_ext"
                    ),
                    params=[brand.pk, brand.pk],
                    conflict=["brand_id", "community_id", "customer_id", "joined_at"],
                    update=update,
                    staged=staged,
                    now=now,
                )
            )
    run.result.details = {
        _("communities created"): created_communities,
        _("customers created"): customers.created,
    }
    if erased.kept:
        run.result.details[_("rows of erased customers, kept anonymous")] = erased.kept
    return run.finish(parser.rows_read)
