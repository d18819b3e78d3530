"""api_load: the REST API at a steady request rate over a big store: requests/s and p50/p95/p99 latency.

    python benchmarks/api_load.py [--db both|sqlite|postgres] [--alerts 100000] [--rooms 500] [--rate 200]
                                  [--seconds 30] [--client httpx|raw] [--phases mix,no-timeline] [--quick]

A store of 100,000 alerts over 500 rooms (5 platforms, 250 sellers, 40 brands and their products, 20
protected persons, the rules of rules.yaml, 30 days of history; most alerts closed, some open, a few shadow),
filed into cases (one room and subject, some decided with an action, a few with a notice), with their events
and a valid audit chain (one entry per alert opened, closed and per action) is written in bulk with SQLAlchemy
Core into the real schema (the migrations made it), then served by `create_app` under uvicorn in a process of
its own on 127.0.0.1, as `livewarden serve` runs it (with the webhook sender beside it).

An open-loop load generator (request i is due at t0 + i/rate, whatever happened to the ones before; async
httpx, or `--client raw`, a minimal HTTP/1.1 client with ~1/30 of httpx's CPU per request, for a machine
where httpx itself cannot keep up) sends a mix of GET /alerts with filters (room_id, rule, status, brand,
seller, severity, since, some combined), cursor pages (`after`), GET /alerts/{id} and GET
/cases/{id}/timeline with the keys of platform admins, brands, sellers and a regulator, each asking for
objects its key may see. Latency counts from the time the request was due, so time spent queueing (in the
client, the socket, the server) is part of it. Printed per endpoint, per role and filter and overall:
requests/s answered, p50/p95/p99/max, errors; the server's CPU per request; the generator's own lag. The
`mix` phase is the whole mix; `no-timeline` the same without timelines (a slow timeline takes the server
with it).

Before the load, each alert filter and the timeline run one at a time in this process (no HTTP), with the
database's plan for each alert-list query, so a slow one is named with its cause (a filter without an index,
a sort, the audit chain read per timeline); and each endpoint once at a time over HTTP, with the server's CPU
per request (which bounds what one server process can answer: its threads share one interpreter lock).

Goal: p95 <= 50 ms at 200 requests/s on SQLite (the verdict is printed for SQLite; PostgreSQL is measured the
same way, for comparison). `--quick` is a 10,000-alert store and 8 s of load per phase, to try it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event, insert, inspect, text, update  # noqa: E402

from livewarden.cases import db, migrate  # noqa: E402
from livewarden.cases.audit import GENESIS, entry_hash  # noqa: E402
from livewarden.cases.keys import create_key  # noqa: E402
from livewarden.cases.schema import (ActionRow, AlertRow, AuditHeadRow, AuditRow, CaseRow, EventRow,  # noqa: E402
                                     NoticeRow)
from livewarden.cases.scope import Principal  # noqa: E402
from livewarden.cases.sql import SqlCaseRepository  # noqa: E402
from livewarden.registry.schema import Brand, Listing, Person, Product, Registry, Room, Seller  # noqa: E402
from rig import cpu_s  # noqa: E402
from livewarden.testing.private_server import free_port  # noqa: E402

GOAL_P95_MS, GOAL_RATE = 50.0, 200.0
SLOW_MS = 10.0  # a request kind slower than this one at a time, without HTTP, is named as slow

PLATFORMS = [("shopa", 40), ("shopb", 25), ("streamly", 15), ("livemart", 12), ("bazaar", 8)]
BRANDS = ["nova", "koru", "alto", "mira", "zest", "vela", "okta", "lumo", "pika", "rivo", "sola", "tuva", "ekko",
          "nima", "dora", "fexo", "giro", "halo", "juno", "kiwa", "brio", "cato", "dune", "elio", "faro", "gala",
          "hiro", "isla", "jova", "kalo", "lira", "moda", "nuri", "orla", "peri", "quil", "roma", "sava", "tiko",
          "umbra"]
# rule, what its subject is, share of the alerts (rules.yaml; the mix a live-commerce deployment sees)
RULES = [("unauthorized_brand", "brand", 30), ("unlisted_product", "product", 14), ("listing_mismatch", "brand", 6),
         ("unknown_product", "unknown", 8), ("impersonation", "person", 8), ("concurrent_impersonation", "person", 2),
         ("counterfeit_language", "seller", 16), ("viewer_fake_concern", "room", 8), ("price_anomaly", "product", 8)]
MESSAGES = {"unauthorized_brand": "{subject} mark on camera in a room whose seller is not authorized for {subject}",
            "unlisted_product": "catalog product {subject} shown in room {room}, which does not list it",
            "listing_mismatch": "room {room} lists other brands but shows {subject} most of the time",
            "unknown_product": "an unrecognised product is shown in room {room}",
            "impersonation": "protected person {subject} on camera in room {room}, which they have not authorized",
            "concurrent_impersonation": "protected person {subject} is live in several rooms at once; {room} is not "
                                        "one they authorized",
            "counterfeit_language": "{subject} offers counterfeits in room {room} (said, shown or typed)",
            "viewer_fake_concern": "viewers in room {room} keep asking or warning about fakes",
            "price_anomaly": "a price stated in room {room} is far below the MSRP of {subject}"}
KIND = {"brand": "mark", "product": "product", "unknown": "unknown_product", "person": "face",
        "seller": "counterfeit_talk", "room": "fake_concern"}
DECISIONS = [("dismiss", "dismissed", 30), ("confirm", "confirmed", 15), ("warn_seller", "actioned", 25),
             ("remove_listing", "actioned", 12), ("pause_room", "actioned", 10), ("end_room", "actioned", 5),
             ("suspend_seller", "actioned", 3)]
RESTRICTION = {"dismiss": None, "confirm": None, "warn_seller": "warning to the seller",
               "pause_room": "suspension of the live broadcast", "end_room": "termination of the live broadcast",
               "remove_listing": "removal of the listing", "suspend_seller": "suspension of the seller's account"}


# -- the world: platforms, sellers, rooms, brands, products, persons (the same from the same seed) ------------------

@dataclass
class World:
    rooms: list[tuple[str, str, str]]  # (room, platform, seller)
    sellers: dict[str, str]  # seller -> platform
    products: dict[str, str]  # product -> brand
    persons: list[str]
    room_weight: list[float]  # how often each room alerts (a few rooms alert a lot)
    listings: dict[str, list[str]]  # room -> listed products


def make_world(n_rooms: int, seed: int) -> World:
    rng = random.Random(seed)
    names, weights = zip(*PLATFORMS)
    n_sellers = max(1, n_rooms // 2)
    sellers = {f"seller-{i:03d}": rng.choices(names, weights)[0] for i in range(n_sellers)}
    ids = list(sellers)
    rooms = []
    for i in range(n_rooms):
        seller = ids[i] if i < len(ids) else rng.choice(ids)
        rooms.append((f"room-{i:03d}", sellers[seller], seller))
    products = {f"{b}-{k}": b for b in BRANDS for k in range(3)}
    listings = {r: rng.sample(list(products), rng.randint(1, 4)) for r, _, _ in rooms}
    room_weight = [1.0 / (rng.random() * n_rooms + 1) ** 0.8 for _ in rooms]
    return World(rooms, sellers, products, [f"person-{i:02d}" for i in range(20)], room_weight, listings)


def make_registry(w: World) -> Registry:
    """The registry that matches the store (no images: the API does not read them)."""
    return Registry(
        brands=[Brand(id=b, name=b.title()) for b in BRANDS],
        products=[Product(id=p, brand=b, name=p, images=[Path(f"/nonexistent/{p}.jpg")])
                  for p, b in w.products.items()],
        persons=[Person(id=p, name=p, photos=[Path(f"/nonexistent/{p}.jpg")]) for p in w.persons],
        sellers=[Seller(id=s, name=s) for s in w.sellers],
        rooms=[Room(id=r, seller=s, source=f"rtmp://ingest.invalid/{r}", platform=p, title=f"live {r}",
                    listings=[Listing(product=x) for x in w.listings[r]]) for r, p, s in w.rooms])


# -- the store, in bulk --------------------------------------------------------------------------------------------

@dataclass
class Catalog:
    """What the load generator needs to ask for objects a key may see."""

    n: dict[str, int] = field(default_factory=dict)
    alerts: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))  # (role, tenant)
    cases: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    rooms: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(set))
    rules: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(set))
    brands: dict[str, list[str]] = field(default_factory=lambda: defaultdict(set))  # platform -> brands
    sellers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(set))  # platform -> sellers
    now: float = 0.0


def build_rows(w: World, n_alerts: int, days: float, seed: int, evidence_dir: Path):
    """Rows for alerts, cases, actions, notices, events and the audit log, as the platform would have left them."""
    rng = random.Random(seed + 1)
    now = time.time()
    start = now - days * 86400
    times = sorted(rng.uniform(start, now - 5) for _ in range(n_alerts))
    cum_rooms, rule_names = [], [r for r, _, _ in RULES]
    acc = 0.0
    for x in w.room_weight:
        acc += x
        cum_rooms.append(acc)
    rule_w = [x for _, _, x in RULES]
    subject_of = {r: s for r, s, _ in RULES}
    brand_w = [1.0 / (i + 1) ** 0.7 for i in range(len(BRANDS))]
    decision_w = [x for _, _, x in DECISIONS]
    alerts, cases, actions, notices = [], [], [], []
    undecided: dict[tuple[str, str], dict] = {}
    # what each room keeps showing: a few brands (and their products) and a person or two, so that alerts about
    # the same room and subject recur (close_after_s is seconds to minutes) and gather in one case until decided
    shows = {r: (rng.sample(BRANDS, 3) if rng.random() < 0.5 else [rng.choices(BRANDS, brand_w)[0] for _ in range(3)],
                 rng.sample(w.persons, 2)) for r, _, _ in w.rooms}
    for i, t in enumerate(times, start=1):
        room, platform, seller = w.rooms[rng.choices(range(len(w.rooms)), cum_weights=cum_rooms)[0]]
        rule = rng.choices(rule_names, rule_w)[0]
        kind = subject_of[rule]
        brand = person = None
        brands, persons = shows[room]
        if kind == "brand":
            subject = brand = rng.choice(brands)
        elif kind == "product":
            brand = rng.choice(brands)
            subject = f"{brand}-{rng.randrange(3)}"
        elif kind == "person":
            subject = person = rng.choice(persons)
        elif kind == "seller":
            subject = seller
        elif kind == "room":
            subject = "viewers"
        else:
            subject = "unknown"
        duration = rng.uniform(20, 900)
        status = "open" if now - t < duration else "closed"
        confidence = round(rng.uniform(0.5, 0.99), 4)
        severity = "review" if rule in ("unknown_product", "viewer_fake_concern") or confidence < 0.7 else "red_flag"
        stream_t = rng.uniform(0, 7200)
        stem = f"{evidence_dir}/{room}/{i:06d}_{rule}_{subject}"
        visual = kind in ("brand", "product", "unknown", "person")
        evidence = [f"{stem}.jpg", f"{stem}_frame.jpg"] if visual else [f"{stem}.txt"]
        signals = [{"room_id": room, "stream_time": round(stream_t + k * 0.5, 3), "kind": KIND[kind],
                    "subject": subject, "confidence": round(confidence - 0.01 * k, 4),
                    "detector": {"mark": "marks-orb", "product": "products-clip", "face": "faces-arcface",
                                 "unknown_product": "products-clip"}.get(KIND[kind], "language"),
                    "evidence": {"polygon": [[300, 100], [450, 100], [450, 240], [300, 240]]} if visual
                    else {"text": "AAA replica 1:1, dm me", "author": "host"}}
                   for k in range(rng.randint(1, 3))]
        key = (room, subject)
        case = undecided.get(key)
        if case is None:
            case = {"id": len(cases) + 1, "room_id": room, "subject": subject, "status": "open", "opened_at": t,
                    "updated_at": t, "platform": platform, "seller": seller, "brand": brand, "person": person,
                    "claimed_by": None, "claim_expires": None, "first_seen_at": None}
            cases.append(case)
            undecided[key] = case
        case["updated_at"] = t
        alerts.append({"id": i, "room_id": room, "rule": rule, "subject": subject, "severity": severity,
                       "status": status, "shadow": rng.random() < 0.03,
                       "message": MESSAGES[rule].format(subject=subject, room=room),
                       "first_stream_time": stream_t, "last_stream_time": stream_t + duration,
                       "confidence": confidence, "hits": rng.randint(1, 40),
                       "first_signal_wall_time": t - rng.uniform(0.3, 6.0), "opened_at": t,
                       "updated_at": t + duration if status == "closed" else now, "evidence": evidence,
                       "signals": signals, "platform": platform, "seller": seller, "brand": brand, "person": person,
                       "case_id": case["id"]})
        decide_at = t + rng.uniform(60, 4 * 3600)
        if decide_at < now and rng.random() < 0.25:  # a moderator decided it
            action, status_after, _ = rng.choices(DECISIONS, decision_w)[0]
            case["status"], case["updated_at"] = status_after, decide_at
            case["first_seen_at"] = decide_at - rng.uniform(5, 600)
            actions.append({"case_id": case["id"], "alert_id": i, "action": action,
                            "actor": f"moderator:{platform}:{rng.randrange(16 ** 6):06x}", "automated": False,
                            "statement": {"restriction": RESTRICTION[action],
                                          "facts": f"{MESSAGES[rule].format(subject=subject, room=room)} "
                                                   f"(confidence {confidence:.2f})",
                                          "ground": "trademark infringement" if brand else "terms of service 4.2",
                                          "ground_type": "illegal_content" if brand else "terms_of_service",
                                          "automated_detection": True, "automated_decision": False,
                                          "redress": "internal complaint (appeal) through livewarden, out-of-court "
                                                     "dispute settlement, judicial redress"},
                            "at": decide_at})
            del undecided[key]
            if brand and rng.random() < 0.05:  # the rights holder had sent a notice about it
                notices.append({"kind": "notice", "case_id": case["id"], "tenant": brand, "role": "brand",
                                "fields": {"explanation": f"counterfeit {subject}", "contact": f"legal@{brand}.example",
                                           "good_faith": True, "trusted_flagger": False},
                                "state": "actioned" if status_after == "actioned" else "rejected",
                                "received_at": case["opened_at"] + 30, "due_at": None, "closed_at": decide_at})
            if status_after == "actioned" and rng.random() < 0.03:
                case["status"] = "appealed"
                notices.append({"kind": "appeal", "case_id": case["id"], "tenant": seller, "role": "seller",
                                "fields": {"explanation": "this was an authentic item"}, "state": "received",
                                "received_at": decide_at + 3600, "due_at": None, "closed_at": None})
    actions.sort(key=lambda a: a["at"])
    for k, a in enumerate(actions, start=1):
        a["id"] = k
    for k, n in enumerate(notices, start=1):
        n["id"] = k
    case_by_id = {c["id"]: c for c in cases}

    def alert_event(a: dict[str, Any], status: str) -> dict[str, Any]:
        return {"alert_id": a["id"], "case_id": a["case_id"], "room_id": a["room_id"], "rule": a["rule"],
                "subject": a["subject"], "severity": a["severity"], "status": status, "shadow": a["shadow"],
                "message": a["message"], "confidence": a["confidence"]}

    scope = ("platform", "seller", "brand", "person")
    events, audit = [], []
    for a in alerts:
        sc = {f: a[f] for f in scope}
        events.append({"at": a["opened_at"], "type": "alert.opened", **sc, "data": alert_event(a, "open")})
        audit.append((a["opened_at"], "system", "alert_shadowed" if a["shadow"] else "alert_opened", a["id"],
                      {"room": a["room_id"], "rule": a["rule"], "subject": a["subject"], "severity": a["severity"],
                       "stream_time": a["first_stream_time"]}))
        if a["status"] == "closed":
            events.append({"at": a["updated_at"], "type": "alert.closed", **sc, "data": alert_event(a, "closed")})
            audit.append((a["updated_at"], "system", "alert_closed", a["id"],
                          {"reason": "no hit within close_after_s"}))
    for x in actions:
        c = case_by_id[x["case_id"]]
        events.append({"at": x["at"], "type": "case.action", **{f: c[f] for f in scope},
                       "data": {"case_id": c["id"], "action": x["action"], "action_id": x["id"], "automated": False,
                                "alert_id": x["alert_id"]}})
        audit.append((x["at"], x["actor"], f"action_{x['action']}", x["alert_id"],
                      {"case_id": c["id"], "action_id": x["id"], "automated": False}))
    events.sort(key=lambda e: e["at"])
    for k, e in enumerate(events, start=1):
        e["id"] = k
    audit.sort(key=lambda e: e[0])
    chain, prev = [], GENESIS
    for k, (at, actor, action, alert_id, detail) in enumerate(audit, start=1):
        h = entry_hash(prev, at, actor, action, alert_id, detail)
        chain.append({"id": k, "at": at, "actor": actor, "action": action, "alert_id": alert_id, "detail": detail,
                      "case_id": detail.get("case_id"), "prev_hash": prev, "hash": h})
        prev = h
    return now, alerts, cases, actions, notices, events, chain


def fill(url: str, w: World, n_alerts: int, days: float, seed: int, evidence_dir: Path) -> Catalog:
    now, alerts, cases, actions, notices, events, chain = build_rows(w, n_alerts, days, seed, evidence_dir)
    engine = db.engine(url)
    with db.writer(engine).begin() as conn:
        for table, rows in ((AlertRow, alerts), (CaseRow, cases), (ActionRow, actions), (NoticeRow, notices),
                            (EventRow, events), (AuditRow, chain)):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table.__table__), rows[k:k + 5000])
        conn.execute(update(AuditHeadRow.__table__).where(AuditHeadRow.id == 1)
                     .values(last_hash=chain[-1]["hash"] if chain else GENESIS, entries=len(chain)))
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in ("alerts", "cases", "actions", "notices", "events", "audit_log"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))
    engine.dispose()
    cat = Catalog(now=now)
    cat.n = {"alerts": len(alerts), "cases": len(cases), "actions": len(actions), "notices": len(notices),
             "events": len(events), "audit entries": len(chain)}
    for a in alerts:
        for key in (("admin", a["platform"]), ("brand", a["brand"]), ("seller", a["seller"]), ("regulator", "*")):
            if key[1] is not None:
                cat.alerts[key].append(a["id"])
                cat.rooms[key].add(a["room_id"])
                cat.rules[key].add(a["rule"])
        if a["brand"]:
            cat.brands[a["platform"]].add(a["brand"])
        cat.sellers[a["platform"]].add(a["seller"])
    for c in cases:
        for key in (("admin", c["platform"]), ("brand", c["brand"]), ("seller", c["seller"]), ("regulator", "*")):
            if key[1] is not None:
                cat.cases[key].append(c["id"])
    for d in (cat.rooms, cat.rules, cat.brands, cat.sellers):
        for k in d:
            d[k] = sorted(d[k])
    return cat


def analyze(url: str) -> None:
    """SQLite: the statistics `livewarden serve` gathers at start (db.refresh_statistics); PostgreSQL: VACUUM
    ANALYZE, as autovacuum would have done by then."""
    engine = db.engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        db.refresh_statistics(engine)
    engine.dispose()


# -- the requests --------------------------------------------------------------------------------------------------

@dataclass
class Request:
    endpoint: str  # what the figures are grouped by
    label: str  # role and filter
    path: str
    token: str
    role: str = ""
    tenant: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def pick_keys(cat: Catalog, rng: random.Random, engine) -> dict[tuple[str, str], str]:
    """Keys for every platform's admin, 10 brands, 20 sellers (with alerts) and a regulator of every platform."""
    tenants = [("admin", p) for p, _ in PLATFORMS if cat.alerts.get(("admin", p))]
    brands = sorted({t for (r, t) in cat.alerts if r == "brand"})
    sellers = sorted({t for (r, t) in cat.alerts if r == "seller"})
    tenants += [("brand", b) for b in rng.sample(brands, min(10, len(brands)))]
    tenants += [("seller", s) for s in rng.sample(sellers, min(20, len(sellers)))]
    tenants += [("regulator", "*")]
    return {t: create_key(engine, t[0], t[1], "api_load")[1] for t in tenants}


ROLE_SHARE = {"admin": 50, "brand": 25, "seller": 20, "regulator": 5}
MIX = {"list": 50, "page": 15, "alert": 20, "timeline": 15}


def alert_filters(role: str, tenant: str, cat: Catalog, rng: random.Random) -> tuple[str, dict[str, Any]]:
    key = (role, tenant)
    day, hour = cat.now - 86400, cat.now - 3600
    options: list[tuple[str, Any]] = [
        ("none", lambda: {}),
        ("room_id", lambda: {"room_id": rng.choice(cat.rooms[key])}),
        ("rule", lambda: {"rule": rng.choice(cat.rules[key])}),
        ("status=open", lambda: {"status": "open"}),
        ("since 24h", lambda: {"since": round(day, 3)}),
        ("rule+status=closed", lambda: {"rule": rng.choice(cat.rules[key]), "status": "closed"}),
        ("room_id+since 1h", lambda: {"room_id": rng.choice(cat.rooms[key]), "since": round(hour, 3)}),
        ("severity=review", lambda: {"severity": "review"}),
    ]
    if role in ("admin", "regulator"):
        plat = tenant if role == "admin" else rng.choice([p for p, _ in PLATFORMS])
        options += [("brand", lambda: {"brand": rng.choice(cat.brands[plat])}),
                    ("seller", lambda: {"seller": rng.choice(cat.sellers[plat])}),
                    ("brand+status=open", lambda: {"brand": rng.choice(cat.brands[plat]), "status": "open"}),
                    ("brand+since 24h", lambda: {"brand": rng.choice(cat.brands[plat]), "since": round(day, 3)})]
    name, make = rng.choice(options)
    return name, make()


def make_requests(n: int, keys: dict[tuple[str, str], str], cat: Catalog, seed: int,
                  mix: dict[str, int]) -> list[Request]:
    rng = random.Random(seed + 2)
    by_role: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for k in keys:
        by_role[k[0]].append(k)
    roles = [r for r in ROLE_SHARE if by_role[r]]
    kinds = [k for k in mix if mix[k] > 0]
    out = []
    for _ in range(n):
        role = rng.choices(roles, [ROLE_SHARE[r] for r in roles])[0]
        key = rng.choice(by_role[role])
        token, kind = keys[key], rng.choices(kinds, [mix[k] for k in kinds])[0]
        if kind in ("list", "page"):
            name, params = alert_filters(role, key[1], cat, rng)
            if kind == "page":
                params["after"] = rng.choice(cat.alerts[key])
            endpoint = "GET /alerts?after=" if kind == "page" else "GET /alerts"
            out.append(Request(endpoint, f"{role} {name}", "/alerts?" + urlencode(params) if params else "/alerts",
                               token, role, key[1], params))
        elif kind == "alert":
            out.append(Request("GET /alerts/{id}", role, f"/alerts/{rng.choice(cat.alerts[key])}", token, role, key[1]))
        elif cat.cases[key]:
            out.append(Request("GET /cases/{id}/timeline", role, f"/cases/{rng.choice(cat.cases[key])}/timeline",
                               token, role, key[1]))
    return out


# -- one at a time, in process: the database's part, and its plan ---------------------------------------------------

def probe(url: str, evidence_dir: Path, keys: dict[tuple[str, str], str], cat: Catalog, seed: int,
          repeat: int, top: int = 12) -> list[str]:
    """Each alert filter and the timeline, one at a time in this process (no HTTP): its time and the query plan
    of the alert list; lines to print, the slow ones marked."""
    from livewarden.cases.platform import Platform

    store = SqlCaseRepository(url, evidence_dir)
    platform = Platform(store)
    engine = store.engine
    pg = engine.dialect.name == "postgresql"
    indexed = {c for ix in inspect(engine).get_indexes("alerts") for c in ix["column_names"]} | {"id"}
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM alerts" in statement:
            captured.append((statement, parameters))

    rng = random.Random(seed + 3)
    lines: list[str] = []
    tenants = [k for k in keys if k[0] == "admin"][:1] + [k for k in keys if k[0] == "brand"][:1] + \
              [k for k in keys if k[0] == "seller"][:1] + [("regulator", "*")]
    seen = set()
    rows = []
    for role, tenant in tenants:
        who = Principal("probe", role, tenant)
        for _ in range(40):
            name, params = alert_filters(role, tenant, cat, rng)
            if (role, name) in seen:
                continue
            seen.add((role, name))
            filters = {k: v for k, v in params.items()}
            event.listen(engine, "before_cursor_execute", capture)
            try:
                captured.clear()
                platform.alerts(who, **filters)
                statement, parameters = captured[-1]
            finally:
                event.remove(engine, "before_cursor_execute", capture)
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                got = platform.alerts(who, **filters)
                times.append(time.perf_counter() - t)
            ms = 1000 * sorted(times)[len(times) // 2]
            plan = explain(engine, statement, parameters, pg)
            cols = ["opened_at" if k in ("since", "until") else k for k in filters]
            missing = sorted(set(cols) - indexed)
            rows.append((ms, f"{role} {name}", len(got), plan, missing))
    rows.sort(key=lambda r: -r[0])
    lines.append(f"  GET /alerts, one at a time in process (median of {repeat}; the plan the database chose), "
                 f"slowest first:")
    shown = [r for k, r in enumerate(rows) if k < top or r[0] > SLOW_MS]
    for ms, label, n, plan, missing in shown:
        flag = "SLOW " if ms > SLOW_MS else "     "
        why = f"  [no index on {', '.join(missing)}]" if missing else ""
        lines.append(f"    {flag}{label:<28} {ms:6.1f} ms {n:3d} rows  {plan}{why}")
    if len(rows) > len(shown):
        lines.append(f"         ... {len(rows) - len(shown)} more filters, each {rows[len(shown)][0]:.1f} ms or less")
    # the timeline, beside a check of the whole audit chain (what it did per request before)
    role, tenant = tenants[0]
    who = Principal("probe", role, tenant)
    cases = cat.cases[(role, tenant)]
    t_all, t_audit = [], []
    for _ in range(max(3, repeat // 3)):
        case = rng.choice(cases)
        t = time.perf_counter()
        platform.timeline(who, case)
        t_all.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.verify_audit()
        t_audit.append(time.perf_counter() - t)
    tl, va = 1000 * sorted(t_all)[len(t_all) // 2], 1000 * sorted(t_audit)[len(t_audit) // 2]
    flag = "SLOW " if tl > SLOW_MS else "     "
    lines.append(f"  GET /cases/{{id}}/timeline, one at a time in process (median of {len(t_all)}):")
    lines.append(f"    {flag}timeline {tl:8.1f} ms (it checks its case's audit entries); the whole chain "
                 f"(GET /audit/verify, {cat.n['audit entries']:,} entries) {va:.1f} ms")
    t_one = []
    for _ in range(repeat):
        a = rng.choice(cat.alerts[(role, tenant)])
        t = time.perf_counter()
        platform.alert(who, a)
        t_one.append(time.perf_counter() - t)
    lines.append(f"         GET /alerts/{{id}} {1000 * sorted(t_one)[len(t_one) // 2]:.2f} ms")
    store.close()
    return lines


def explain(engine, statement: str, parameters: Any, pg: bool) -> str:
    """The plan in one line: PostgreSQL's nodes with the rows each filter threw away (EXPLAIN ANALYZE), SQLite's
    EXPLAIN QUERY PLAN."""
    with engine.connect() as conn:
        if not pg:
            return "; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement,
                                                   parameters)]
    keep: list[str] = []
    for k, line in enumerate(plan):
        s = line.strip()
        if k == 0 or s.startswith("->"):  # a node (the rest are its details)
            keep.append(s.removeprefix("->").strip().split(" (actual")[0])
        elif s.startswith("Rows Removed by Filter") and keep:
            keep[-1] += f" ({s.split(':')[1].strip()} rows filtered out)"
    return "; ".join(k for k in keep if k != "Limit")


# -- the server, in a process of its own --------------------------------------------------------------------------

def run_server(args) -> None:
    import logging

    import uvicorn

    from livewarden.api.app import create_app
    from livewarden.cases.outbox import WebhookSender
    from livewarden.cases.platform import Platform
    from livewarden.config import load_settings
    from livewarden.runtime.collector import settle_after_start

    logging.basicConfig(level=logging.WARNING)
    store = SqlCaseRepository(args.serve, args.evidence)
    platform = Platform(store)
    # as `serve` reads its settings (LIVEWARDEN_API__WORKER_THREADS=40 to try another number)
    app = create_app(platform, make_registry(make_world(args.rooms, args.seed)),
                     worker_threads=load_settings().api.worker_threads)
    sender = WebhookSender(platform.engine)  # as `livewarden serve` runs it beside the API
    sender.start()
    settle_after_start()  # as `livewarden serve` does
    try:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    finally:
        sender.stop()



def start_server(url: str, evidence: Path, log: Path, args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "ab") as out:  # the server's errors, summarised after the run
        proc = subprocess.Popen([sys.executable, __file__, "--serve", url, "--evidence", str(evidence),
                                 "--port", str(port), "--rooms", str(args.rooms), "--seed", str(args.seed)],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit("the server did not answer /health within 60 s")
        time.sleep(0.1)


def server_errors(log: Path) -> list[str]:
    """The exceptions the server logged: how many of each, and the livewarden code they went through last."""
    found: dict[tuple[str, str], int] = defaultdict(int)
    for block in log.read_text(errors="replace").split("Traceback (most recent call last):")[1:]:
        lines = [x for x in block.splitlines() if x.strip()]
        ours = [x.strip() for x in lines if x.strip().startswith("File ") and "/livewarden/" in x]
        last = next((x for x in lines if not x.startswith((" ", "\t", "File")) and ":" in x),
                    lines[-1] if lines else "")
        where = ", ".join(o.split("/livewarden/", 1)[1].replace('", line ', ":").replace(", in ", " ")
                          for o in ours[-2:])
        found[(last.strip()[:150], where)] += 1
    return [f"    {n} x {what}  (via {where})" for (what, where), n in sorted(found.items(), key=lambda x: -x[1])[:4]]


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the load ------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    request: Request
    due: float
    sent: float
    done: float
    status: int | str

    @property
    def latency(self) -> float:
        return self.done - self.due


class _Stale(Exception):
    """A kept-alive connection closed by the server before it answered."""


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams (`--client raw`): about 1/30 of httpx's CPU
    per request, for when the load generator itself would be what is measured."""

    def __init__(self, base: str, connections: int):
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(connections)

    async def get(self, path: str, headers: dict[str, str]) -> int:
        async with self.slots:
            if self.idle:
                try:  # a kept-alive connection the server closed meanwhile (its keep-alive timeout): as every
                    return await self._exchange(*self.idle.pop(), path, headers)  # HTTP client does, send the
                except _Stale:  # GET again on a new connection
                    pass
            return await self._exchange(*await asyncio.open_connection(self.host, self.port), path, headers)

    async def _exchange(self, reader, writer, path: str, headers: dict[str, str]) -> int:
        ok = False
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}\r\n".encode())
            try:
                first = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
                raise _Stale() from exc  # closed before a byte of the answer
            lines = first.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            if "content-length" in fields:
                await reader.readexactly(int(fields["content-length"]))
            elif fields.get("transfer-encoding") == "chunked":
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            ok = fields.get("connection") != "close"
            return status
        finally:
            if ok:
                self.idle.append((reader, writer))
            else:
                writer.close()

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()


class HttpxClient:
    """httpx's AsyncClient, the connections spread over 8 of them: httpx's pool walks its whole queue on every
    change, which costs the client more than the server once a backlog forms."""

    def __init__(self, base: str, connections: int, timeout_s: float, shards: int = 8):
        limits = httpx.Limits(max_connections=max(1, connections // shards),
                              max_keepalive_connections=max(1, connections // shards))
        self.clients = [httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout_s) for _ in range(shards)]
        self.i = 0

    async def get(self, path: str, headers: dict[str, str]) -> int:
        self.i += 1
        return (await self.clients[self.i % len(self.clients)].get(path, headers=headers)).status_code

    async def aclose(self) -> None:
        for c in self.clients:
            await c.aclose()


async def load(base: str, requests: list[Request], rate: float, connections: int, timeout_s: float,
               kind: str = "httpx") -> tuple[list[Result], float]:
    """Open loop: request i is due at t0 + i / rate; each is its own task (a slow answer holds up nothing else).
    -> (the results, this process's CPU seconds meanwhile)."""
    results: list[Result] = []
    client = RawClient(base, connections) if kind == "raw" else HttpxClient(base, connections, timeout_s)
    try:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(client.get("/health", {}) for _ in range(32)))  # open some connections
        r0 = resource.getrusage(resource.RUSAGE_SELF)

        async def one(req: Request, due: float) -> None:
            sent = loop.time()
            try:
                status: int | str = await asyncio.wait_for(
                    client.get(req.path, {"Authorization": f"Bearer {req.token}"}), timeout_s)
            except (asyncio.TimeoutError, httpx.TimeoutException):
                status = "timeout"
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError, _Stale) as exc:
                status = type(exc).__name__
            results.append(Result(req, due, sent, loop.time(), status))

        t0 = loop.time() + 0.2
        tasks = []
        for i, req in enumerate(requests):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(req, due)))
        await asyncio.gather(*tasks)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await client.aclose()
    return results, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


def one_at_a_time(base: str, pid: int, requests: list[Request], n: int) -> list[str]:
    """Each endpoint over HTTP with nothing else going on: its latency and the server's CPU per request (what
    bounds one server process's rate: its threads share one interpreter lock)."""
    by: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        by[r.endpoint].append(r)
    lines = ["  over HTTP, one request at a time (p50 latency; server CPU per request; the rate one core of it "
             "could answer):"]
    with httpx.Client(base_url=base, timeout=120) as client:
        for endpoint, rs in sorted(by.items()):
            rs = rs[:3] if "timeline" in endpoint else rs[:n]
            client.get(rs[0].path, headers={"Authorization": f"Bearer {rs[0].token}"})
            lat, c0 = [], cpu_s(pid)
            for r in rs:
                t = time.perf_counter()
                client.get(r.path, headers={"Authorization": f"Bearer {r.token}"})
                lat.append(time.perf_counter() - t)
            cpu = (cpu_s(pid) - c0) / len(rs)
            lines.append(f"    {endpoint:<28} p50 {1000 * pct(lat, 0.5):8.1f} ms   server CPU {1000 * cpu:7.1f} "
                         f"ms/request"
                         f"   -> at most ~{1 / max(cpu, 1e-6):,.0f} req/s per core  ({len(rs)} requests)")
    return lines


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def table(results: list[Result], key, title: str, top: int | None = None) -> list[str]:
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    span = (max(r.done for r in results) - min(r.due for r in results)) if results else 1.0
    rows = []
    for name, rs in groups.items():
        lat = [1000 * r.latency for r in rs]
        errors = sum(1 for r in rs if r.status != 200)
        rows.append((pct(lat, 0.95), name, len(rs), (len(rs) - errors) / span, pct(lat, 0.5), pct(lat, 0.99), max(lat),
                     errors))
    rows.sort(key=lambda r: -r[0])
    out = [f"  {title:<40} {'n':>6} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'errors':>6}"]
    for p95, name, n, rps, p50, p99, mx, errors in rows[:top]:
        out.append(f"  {name:<40} {n:6d} {rps:7.1f} {p50:7.1f} {p95:7.1f} {p99:7.1f} {mx:7.0f} {errors:6d}")
    if top is not None and len(rows) > top:
        out.append(f"  ... {len(rows) - top} more, all with a lower p95")
    return out


def run_phase(title: str, url: str, evidence: Path, log: Path, requests: list[Request], warm: int,
              args, baseline: bool = False) -> dict[str, Any]:
    log.write_text("")
    proc, base = start_server(url, evidence, log, args)
    try:
        if baseline:
            for line in one_at_a_time(base, proc.pid, requests, 60):
                print(line, flush=True)
        cpu0, wall0 = cpu_s(proc.pid), time.monotonic()
        results, client_cpu = asyncio.run(load(base, requests, args.rate, args.connections, args.timeout_s,
                                               args.client))
        cpu1, wall1 = cpu_s(proc.pid), time.monotonic()
    finally:
        stop_server(proc)
    results.sort(key=lambda r: r.due)
    measured = results[warm:]
    lat = [1000 * r.latency for r in measured]
    span = max(r.done for r in measured) - min(r.due for r in measured)
    errors = sum(1 for r in measured if r.status != 200)
    statuses: dict[str, int] = defaultdict(int)
    for r in measured:
        if r.status != 200:
            statuses[str(r.status)] += 1
    lag = [1000 * (r.sent - r.due) for r in measured]
    print(f"  load, {title}: {args.rate:g} req/s offered for {args.seconds:g} s after {args.warmup_s:g} s of warm-up "
          f"({len(measured)} requests measured; open loop, up to {args.connections} connections; latency in ms from "
          f"the time each request was due)")
    for line in table(measured, lambda r: r.request.endpoint, "endpoint"):
        print(line)
    for line in table([r for r in measured if r.request.endpoint.startswith("GET /alerts")],
                      lambda r: ("page " if "after" in r.request.params else "") + r.request.label,
                      "GET /alerts by role and filter", top=args.top):
        print(line)
    overall = {"rps": sum(1 for r in measured if r.status == 200) / span, "p50": pct(lat, 0.5),
               "p95": pct(lat, 0.95), "p99": pct(lat, 0.99),
               "max": max(lat), "errors": errors}
    print(f"  overall: {overall['rps']:.1f} req/s answered (HTTP 200) of {args.rate:g} offered; "
          f"p50 {overall['p50']:.1f} ms, "
          f"p95 {overall['p95']:.1f} ms, p99 {overall['p99']:.1f} ms, max {overall['max']:.0f} ms; errors {errors}"
          + (f" ({dict(statuses)})" if statuses else ""))
    answered = sum(1 for r in results if r.status == 200) or 1
    print(f"  server process CPU {100 * (cpu1 - cpu0) / (wall1 - wall0):.0f}% of one core "
          f"({1000 * (cpu1 - cpu0) / answered:.1f} ms per answered request); load generator ({args.client}) CPU "
          f"{1000 * client_cpu / len(results):.2f} ms per request, send lag (due -> sent) p99 {pct(lag, 0.99):.1f} ms, "
          f"max {max(lag):.1f} ms" + ("  <- the generator could not keep up: its lag is in these latencies"
                                      if pct(lag, 0.99) > max(20.0, 0.1 * overall["p95"]) else ""))
    logged = server_errors(log)
    if logged:
        print("  the server logged:")
        for line in logged:
            print(line)
    print(flush=True)
    return overall


def bench(name: str, url: str, evidence: Path, cat: Catalog, args) -> dict[str, dict[str, Any]]:
    print(f"\n== {name} ==", flush=True)
    engine = db.engine(url)
    keys = pick_keys(cat, random.Random(args.seed + 4), engine)
    engine.dispose()
    for line in probe(url, evidence, keys, cat, args.seed, args.probe_repeat, args.top):
        print(line, flush=True)
    print(flush=True)
    warm = int(args.warmup_s * args.rate)
    n = warm + int(args.seconds * args.rate)
    mix = parse_mix(args.mix) if args.mix else MIX
    out = {}
    for phase in [p for p in args.phases.split(",") if p not in ("", "none")]:
        if phase == "mix":
            title, m = "the mix " + ",".join(f"{k}={v}" for k, v in mix.items()), mix
        elif phase == "no-timeline":
            m = {**mix, "timeline": 0}
            title = "the same without timelines " + ",".join(f"{k}={v}" for k, v in m.items())
        else:
            raise SystemExit(f"--phases: unknown phase {phase!r} (mix, no-timeline)")
        out[phase] = run_phase(title, url, evidence, Path(evidence).parent / f"server-{name}.log",
                               make_requests(n, keys, cat, args.seed, m), warm, args, baseline=not out)
    return out


def verdict_line(name: str, phase: str, o: dict[str, Any], rate: float) -> str:
    ok = o["p95"] <= GOAL_P95_MS and o["rps"] >= 0.97 * rate and not o["errors"]
    word = ("PASS" if ok else "FAIL") if rate >= GOAL_RATE else \
        ("p95 met at this lower rate (not the goal's)" if ok else "FAIL, even at this lower rate")
    return (f"verdict ({name}, {phase}): p95 {o['p95']:.1f} ms at {o['rps']:.0f} req/s answered ({rate:g} offered), "
            f"{o['errors']} errors -> {word} (goal: p95 <= {GOAL_P95_MS:g} ms at {GOAL_RATE:g} req/s, no errors)")


def parse_mix(text_: str) -> dict[str, int]:
    mix = {k: 0 for k in MIX}
    for part in text_.split(","):
        k, _, v = part.partition("=")
        if k.strip() not in mix:
            raise SystemExit(f"--mix: unknown kind {k!r} (one of {', '.join(MIX)})")
        mix[k.strip()] = int(v)
    return mix


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 alerts and 8 s of load per database, to try it")
    ap.add_argument("--db", choices=("both", "sqlite", "postgres"), default="both")
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--rooms", type=int, default=500)
    ap.add_argument("--days", type=float, default=30.0, help="the alerts' opened_at spread over this many days")
    ap.add_argument("--rate", type=float, default=GOAL_RATE, help="requests per second, offered at a constant rate")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured load per database")
    ap.add_argument("--warmup-s", type=float, default=3.0, help="load before the measurement (not counted)")
    ap.add_argument("--connections", type=int, default=256, help="the client's connection limit")
    ap.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                    help="the load generator's HTTP client: httpx's AsyncClient, or a minimal one on asyncio streams "
                         "(~1/30 of the CPU per request: for a machine where httpx itself cannot keep up)")
    ap.add_argument("--timeout-s", type=float, default=10.0, help="a request not answered by then is an error")
    ap.add_argument("--mix", help=f"request shares, e.g. list=50,page=15,alert=20,timeline=15 (default {MIX})")
    ap.add_argument("--phases", default="mix,no-timeline",
                    help="load runs per database: mix (the mix), no-timeline (the mix without timelines); "
                         "none: only the store and the in-process figures (no server)")
    ap.add_argument("--no-analyze", dest="analyze", action="store_false",
                    help="leave the SQLite store without statistics (`serve` gathers them at start and "
                         "hourly; PostgreSQL is always analysed, as autovacuum would)")
    ap.add_argument("--probe-repeat", type=int, default=9)
    ap.add_argument("--top", type=int, default=12, help="rows of the per-filter table")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # internal: run the API on this database URL
    ap.add_argument("--evidence", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        run_server(args)
        return 0
    if args.quick:
        args.alerts, args.seconds, args.warmup_s = min(args.alerts, 10_000), min(args.seconds, 8.0), 2.0
    w = make_world(args.rooms, args.seed)
    load1 = os.getloadavg()[0]
    print(f"api_load: {args.alerts:,} alerts over {args.rooms} rooms ({len(PLATFORMS)} platforms, {len(w.sellers)} "
          f"sellers, {len(BRANDS)} brands, {len(w.persons)} persons), {args.days:g} days; {os.cpu_count()} CPUs, "
          f"load average {load1:.1f}")
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="api-load-") as tmp:
        evidence = Path(tmp) / "evidence"
        if args.db in ("both", "sqlite"):
            data = Path(tmp) / "sqlite"
            SqlCaseRepository.at(data).close()  # the migrations make the schema
            url = f"sqlite:///{data / 'livewarden.db'}"
            t = time.perf_counter()
            cat = fill(url, w, args.alerts, args.days, args.seed, evidence)
            if args.analyze:
                analyze(url)
            size = sum(p.stat().st_size for p in data.glob("livewarden.db*")) / 1e6
            print(f"store (SQLite): {', '.join(f'{v:,} {k}' for k, v in cat.n.items())}; written in "
                  f"{time.perf_counter() - t:.1f} s, {size:.0f} MB" + ("; statistics as `serve` gathers them"
                                                                      if args.analyze else "; no statistics"))
            phases = bench("SQLite", url, evidence, cat, args)
            verdicts = [verdict_line("SQLite", p, o, args.rate) for p, o in phases.items()]
            for v in verdicts:
                print(v, flush=True)
        if args.db in ("both", "postgres"):
            from livewarden.testing.postgres import PostgresServer

            ok_pg, why = PostgresServer.available()
            if not ok_pg:
                print(f"\n== PostgreSQL == skipped: {why}")
            else:
                with PostgresServer() as pg:
                    migrate.upgrade(pg.url)
                    t = time.perf_counter()
                    cat = fill(pg.url, w, args.alerts, args.days, args.seed, evidence)
                    analyze(pg.url)
                    print(f"\nstore (PostgreSQL, {pg.version.split(' (Debian')[0]}, the test server: fsync off, "
                          f"shared_buffers 16MB): {', '.join(f'{v:,} {k}' for k, v in cat.n.items())}; written in "
                          f"{time.perf_counter() - t:.1f} s, VACUUM ANALYZEd")
                    for p, o in bench("PostgreSQL", pg.url, evidence, cat, args).items():
                        print(f"PostgreSQL, {p}: p95 {o['p95']:.1f} ms at {o['rps']:.0f} req/s answered, "
                              f"{o['errors']} errors (no goal set; for comparison)", flush=True)
    if verdicts and args.db == "both":
        print("\n" + "\n".join(verdicts))
    if load1 > 3:
        print(f"note: the machine was busy (load average {load1:.1f} on {os.cpu_count()} CPUs at the start): "
              f"latencies include waiting for a CPU")
    return 1 if any("-> FAIL" in v for v in verdicts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
