"""A pure simulation of a live-commerce brand with known truths. Imports nothing from Django.

The purchase process is a promotion-time cure model, which is exactly proportional hazards with a hidden
alive/dead state. After paid purchase k at time t_k with covariates x_k (measured at t_k from the data that
exists at t_k), the survival of the time to the next paid purchase is

    S(t | x) = exp(-theta(x) * F(t)),   theta(x) = c_stage * exp(beta . x),   F = Weibull CDF.

It is sampled as N ~ Poisson(theta); N = 0 means the customer never buys again (dead from t_k on);
otherwise the gap is the minimum of N draws from F. The hazard ratio of covariate j is exactly exp(beta_j)
in every stage, and P(never returns | x) = exp(-theta(x)).

All event times are whole seconds since `start` (int64), so a window computed here and one computed later
from the stored timestamps agree exactly. Work is vectorised across customers; loops run over streams
(time steps) and purchase indices only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DAY = 86_400
HOUR = 3_600
NEVER = np.int64(2**62)  # "no such event" for int64 second times
NONE_YET = np.int64(-(2**62))
RING = 48  # streams kept per customer for the 30-day covariate windows

COVARIATES = ("community_member", "engaged_5plus", "log_watch_hours_30d")

COVARIATE_DEFINITIONS = {
    "community_member": (
        "1 if the customer has a community membership spell with joined_at <= t_k and "
        "(left_at is null or left_at > t_k) in any of the brand's communities, else 0."
    ),
    "engaged_5plus": (
        "1 if the customer has at least one stream view with t_k - 30 days <= joined_at < t_k and "
        "comments + likes + shares >= 5 on that view, else 0."
    ),
    "log_watch_hours_30d": (
        "log1p(H) where H is the sum of watch_seconds / 3600 over the customer's stream views with "
        "t_k - 30 days <= joined_at < t_k (a view counts whole, by its joined_at)."
    ),
}

STAGES = ("introduction", "growth", "maturity")

PROVINCES = [
    # province, cities, weight
    ("广东省", ["广州", "深圳", "东莞", "佛山"], 12),
    ("浙江省", ["杭州", "宁波", "温州"], 9),
    ("江苏省", ["南京", "苏州", "无锡"], 9),
    ("山东省", ["济南", "青岛", "烟台"], 7),
    ("上海市", ["上海"], 6),
    ("四川省", ["成都", "绵阳"], 6),
    ("河南省", ["郑州", "洛阳"], 6),
    ("北京市", ["北京"], 5),
    ("湖北省", ["武汉", "宜昌"], 5),
    ("湖南省", ["长沙", "株洲"], 4),
    ("福建省", ["福州", "厦门", "泉州"], 4),
    ("河北省", ["石家庄", "保定"], 4),
    ("安徽省", ["合肥", "芜湖"], 3),
    ("陕西省", ["西安"], 3),
    ("重庆市", ["重庆"], 3),
    ("辽宁省", ["沈阳", "大连"], 3),
    ("天津市", ["天津"], 2),
    ("云南省", ["昆明"], 2),
    ("广西壮族自治区", ["南宁", "桂林"], 2),
    ("江西省", ["南昌"], 2),
    ("黑龙江省", ["哈尔滨"], 2),
    ("山西省", ["太原"], 1),
]
CATEGORIES = ["skincare", "beauty", "personal_care", "apparel", "food", "home"]
CATEGORY_WEIGHTS = [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]
CATEGORY_ZH = {
    "skincare": "护肤",
    "beauty": "彩妆",
    "personal_care": "个护",
    "apparel": "服饰",
    "food": "美食",
    "home": "家居",
}
SKU_PREFIX = {
    "skincare": "SK",
    "beauty": "BT",
    "personal_care": "PC",
    "apparel": "AP",
    "food": "FD",
    "home": "HM",
}
THEMES = ["秋冬补水", "新品首发", "宠粉福利", "限时秒杀", "会员专享", "周末狂欢", "直播间专属价", "爆款返场"]
HOSTS = ["小雅", "Lily", "阿杰", "美美"]
HOST_WEIGHTS = [0.4, 0.25, 0.2, 0.15]
PLATFORMS = ["douyin", "kuaishou", "taobao", "wechat_channels"]
PLATFORM_WEIGHTS = [0.45, 0.2, 0.2, 0.15]
CHANNELS = ["live_stream", "short_video", "search", "ads", "community", "referral"]
CHANNEL_WEIGHTS = [0.45, 0.2, 0.1, 0.12, 0.06, 0.07]
TOUCH_CHANNELS = ["wechat", "wecom", "sms", "app_push", "email", "none"]
TOUCH_WEIGHTS = [0.35, 0.25, 0.2, 0.12, 0.03, 0.05]
GENDERS = ["female", "male", "unknown"]
GENDER_WEIGHTS = [0.68, 0.27, 0.05]
NICK_ADJ = ["快乐的", "爱笑的", "安静的", "元气", "温柔的", "小小", "甜甜的", "勇敢的", "慢慢的", "闪亮的"]
NICK_NOUN = ["小猫", "橘子", "兔子", "星星", "奶茶", "月亮", "小鹿", "柚子", "草莓", "云朵", "海豚", "樱桃"]
COMMUNITIES = [
    # external id, name, kind, share of joins
    ("G01", "演示美妆 VIP 粉丝群", "wechat_group", 0.4),
    ("G02", "企业微信专属顾问", "wecom", 0.3),
    ("G03", "App 会员圈", "app_group", 0.2),
    ("G04", "护肤交流群", "wechat_group", 0.1),
]


@dataclass(frozen=True)
class DemoTruthParams:
    """Everything that shapes the demo brand. The first block is the survival truth an engine must recover."""

    # Proportional-hazards truth of the time to the next paid purchase (hazard ratios per unit).
    hr_community_member: float = 1.6
    hr_engaged_5plus: float = 1.4
    hr_log_watch_hours_30d: float = 1.25
    # Cure-model scale c per stage: purchase count so far 1 -> introduction, 2-3 -> growth, 4+ -> maturity.
    c_introduction: float = 0.8
    c_growth: float = 1.4
    c_maturity: float = 2.0
    growth_min_purchases: int = 2
    maturity_min_purchases: int = 4
    # Baseline CDF F of the gap: Weibull(scale, shape).
    weibull_scale_days: float = 40.0
    weibull_shape: float = 1.3
    # First purchase: same model from first_seen_at, with covariates measured at first_seen_at.
    c_first: float = 0.55
    first_weibull_scale_days: float = 21.0
    first_weibull_shape: float = 1.0
    # Covariate definitions.
    window_days: int = 30
    engaged_threshold: int = 5
    attribution_hours: int = 48

    # Behaviour around the truth (does not change the hazard ratios).
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    streams_per_week_min: int = 3
    streams_per_week_max: int = 6
    audience_growth: float = 1.2  # acquisition density grows like exp(growth * fraction of period)
    view_propensity_median: float = 0.1
    view_propensity_sigma: float = 1.0
    buy_intent_view_prob: float = 0.55  # extra chance to watch the last stream before a purchase
    dead_view_floor: float = 0.08  # viewing multiplier long after death
    dead_view_decay_days: float = 14.0
    join_rate_buyer_per_day: float = 0.004
    join_rate_viewer_per_day: float = 0.0006
    leave_rate_per_day: float = 0.002
    spend_shape: float = 2.0
    spend_scale: float = 110.0
    gift_order_share: float = 0.015
    refunded_share: float = 0.04
    cancelled_share: float = 0.02
    marketing_consent_share: float = 0.85
    automated_opt_out_share: float = 0.03
    campaigns: int = 6
    campaign_benefits: tuple[tuple[str, int], ...] = (
        ("coupon-20", 30),
        ("coupon-50", 30),
        ("free-shipping", 30),
        ("points-x2", 30),
    )

    @property
    def beta(self) -> np.ndarray:
        return np.log(
            np.array([self.hr_community_member, self.hr_engaged_5plus, self.hr_log_watch_hours_30d])
        )

    def stage_for(self, purchases: np.ndarray) -> np.ndarray:
        """Stage index (0 introduction, 1 growth, 2 maturity) for a purchase count >= 1."""
        return (purchases >= self.growth_min_purchases).astype(np.int8) + (
            purchases >= self.maturity_min_purchases
        ).astype(np.int8)

    def c_for(self, purchases: np.ndarray) -> np.ndarray:
        return np.array([self.c_introduction, self.c_growth, self.c_maturity])[self.stage_for(purchases)]

    def to_json(self) -> dict:
        """The truth as stored with the brand: plain JSON values plus the exact covariate definitions."""
        data = asdict(self)
        data["campaign_benefits"] = [list(x) for x in self.campaign_benefits]
        data["hazard_ratios"] = {
            "community_member": self.hr_community_member,
            "engaged_5plus": self.hr_engaged_5plus,
            "log_watch_hours_30d": self.hr_log_watch_hours_30d,
        }
        data["log_hazard_ratios"] = dict(zip(COVARIATES, [float(b) for b in self.beta], strict=True))
        data["c_per_stage"] = {
            "introduction": self.c_introduction,
            "growth": self.c_growth,
            "maturity": self.c_maturity,
        }
        data["stage_rule"] = (
            f"paid purchases so far: 1 -> introduction, {self.growth_min_purchases}-"
            f"{self.maturity_min_purchases - 1} -> growth, {self.maturity_min_purchases}+ -> maturity"
        )
        data["baseline"] = {
            "family": "weibull",
            "scale_days": self.weibull_scale_days,
            "shape": self.weibull_shape,
            "cdf": "F(t) = 1 - exp(-(t / scale)^shape), t in days",
        }
        data["first_purchase_baseline"] = {
            "family": "weibull",
            "scale_days": self.first_weibull_scale_days,
            "shape": self.first_weibull_shape,
            "c": self.c_first,
        }
        data["model"] = (
            "promotion-time cure model: S(t|x) = exp(-c_stage * exp(beta.x) * F(t)); "
            "P(never buys again | x) = exp(-c_stage * exp(beta.x))"
        )
        data["covariate_definitions"] = dict(COVARIATE_DEFINITIONS)
        data["purchase_definition"] = (
            "a purchase is an order with status 'paid' (zero-amount gift orders included); "
            "refunded and cancelled orders are extra rows outside the purchase process"
        )
        return data


def _to_ts(start_epoch: int, seconds: np.ndarray) -> pd.Series:
    """int64 seconds since start (NEVER -> NaT) as UTC timestamps."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = pd.to_datetime(start_epoch + np.where(seconds >= NEVER, 0, seconds), unit="s", utc=True)
    out = pd.Series(out)
    out[seconds >= NEVER] = pd.NaT
    return out


def _weibull_seconds(rng, n_draws: np.ndarray, scale_days: float, shape: float) -> np.ndarray:
    """Minimum of n_draws i.i.d. Weibull(scale, shape) draws, in whole seconds (at least one minute)."""
    scale = scale_days * DAY * n_draws.astype(float) ** (-1.0 / shape)
    gap = scale * rng.weibull(shape, size=len(n_draws))
    return np.maximum(np.rint(gap), 60).astype(np.int64)


def _choice(rng, options, weights, size):
    p = np.asarray(weights, dtype=float)
    return np.asarray(options)[rng.choice(len(options), size=size, p=p / p.sum())]


def _streams(rng, start: pd.Timestamp, end: pd.Timestamp, params: DemoTruthParams) -> pd.DataFrame:
    tz = params.timezone
    local_start = start.tz_convert(tz).normalize().tz_localize(None)
    n_weeks = int(math.ceil((end - start).days / 7)) + 1
    day_offsets, hours, minutes, durations = [], [], [], []
    for week in range(n_weeks):  # a time step: a handful of streams per week
        n = int(rng.integers(params.streams_per_week_min, params.streams_per_week_max + 1))
        days = np.sort(rng.choice(7, size=n, replace=False))
        evening = rng.random(n) < 0.85
        hour = np.where(
            evening, rng.choice([19, 20, 21], size=n, p=[0.35, 0.45, 0.2]), rng.choice([12, 14, 15], size=n)
        )
        day_offsets.append(week * 7 + days)
        hours.append(hour)
        minutes.append(rng.choice([0, 30], size=n))
        durations.append(rng.choice([60, 90, 120, 150, 180, 240], size=n, p=[0.1, 0.2, 0.3, 0.2, 0.12, 0.08]))
    day_offsets = np.concatenate(day_offsets)
    local = (
        local_start
        + pd.to_timedelta(day_offsets, unit="D")
        + pd.to_timedelta(np.concatenate(hours), unit="h")
        + pd.to_timedelta(np.concatenate(minutes), unit="m")
    )
    utc = (
        pd.DatetimeIndex(local)
        .tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
        .tz_convert("UTC")
    )
    start_s = ((utc - start) // pd.Timedelta(seconds=1)).to_numpy().astype(np.int64)
    dur_s = np.concatenate(durations).astype(np.int64) * 60
    total = int((end - start) // pd.Timedelta(seconds=1))
    keep = (start_s >= 0) & (start_s + dur_s <= total)
    start_s, dur_s = start_s[keep], dur_s[keep]
    n = len(start_s)
    category = _choice(rng, CATEGORIES, CATEGORY_WEIGHTS, n)
    host = _choice(rng, HOSTS, HOST_WEIGHTS, n)
    platform = _choice(rng, PLATFORMS, PLATFORM_WEIGHTS, n)
    theme = _choice(rng, THEMES, np.ones(len(THEMES)), n)
    big_day = rng.random(n) < 0.05
    reach = rng.lognormal(0.0, 0.3, n) * np.where(big_day, 1.8, 1.0)
    title = [
        f"{h}的{CATEGORY_ZH[c]}专场 · {'大促' if b else t}"
        for h, c, t, b in zip(host, category, theme, big_day, strict=True)
    ]
    return pd.DataFrame(
        {
            "external_id": [f"S{i + 1:05d}" for i in range(n)],
            "title": title,
            "host_name": host,
            "platform": platform,
            "category": category,
            "start_s": start_s,
            "end_s": start_s + dur_s,
            "reach": reach,
        }
    )


def _customers(rng, n: int, streams: pd.DataFrame, total_s: int, end: pd.Timestamp, params: DemoTruthParams):
    g = params.audience_growth
    u = np.log1p(rng.random(n) * math.expm1(g)) / g
    t_acq = np.rint(u * total_s * 0.995).astype(np.int64)
    channel = _choice(rng, CHANNELS, CHANNEL_WEIGHTS, n)
    s_start = streams["start_s"].to_numpy()
    s_end = streams["end_s"].to_numpy()
    acq_stream = np.searchsorted(s_start, t_acq)  # the first stream after the acquisition moment
    live = (channel == "live_stream") & (acq_stream < len(s_start))
    channel = np.where((channel == "live_stream") & ~live, "short_video", channel)
    acq_stream = np.where(live, acq_stream, -1)
    safe = np.where(live, acq_stream, 0)
    first_seen = np.where(
        live,
        s_start[safe] + np.rint(rng.random(n) * 0.6 * (s_end[safe] - s_start[safe])).astype(np.int64),
        t_acq,
    )
    order = np.argsort(first_seen, kind="stable")
    first_seen, channel, acq_stream = first_seen[order], channel[order], acq_stream[order]

    age = np.clip(np.rint(rng.normal(31, 8, n)), 16, 68).astype(int)
    province_idx = rng.choice(len(PROVINCES), size=n, p=np.array([p[2] for p in PROVINCES]) / 100)
    city_pick = rng.random(n)
    provinces = np.array([p[0] for p in PROVINCES])[province_idx]
    cities = np.array(
        [PROVINCES[p][1][int(c * len(PROVINCES[p][1]))] for p, c in zip(province_idx, city_pick, strict=True)]
    )
    idx = np.arange(n)
    nick = pd.Series(np.asarray(NICK_ADJ)[rng.integers(0, len(NICK_ADJ), n)]) + pd.Series(
        np.asarray(NICK_NOUN)[rng.integers(0, len(NICK_NOUN), n)]
    )
    nick = nick + pd.Series(rng.integers(0, 10_000, n)).astype(str).str.zfill(4)
    # Clearly fake numbers: 138-00 prefix, the rest a seeded permutation of the customer index.
    phone_tail = rng.permutation(10**6)[: min(n, 10**6)]
    phone_tail = np.resize(phone_tail, n)
    phones = "13800" + pd.Series(phone_tail).astype(str).str.zfill(6)

    frame = pd.DataFrame(
        {
            "external_id": [f"C{i + 1:07d}" for i in idx],
            "display_name": nick.to_numpy(),
            "phone": phones.to_numpy(),
            "gender": _choice(rng, GENDERS, GENDER_WEIGHTS, n),
            "birth_year": end.year - age,
            "province": provinces,
            "city": cities,
            "acquisition_channel": channel,
            "acquisition_stream_idx": acq_stream,
            "first_seen_s": first_seen,
            "marketing_consent": rng.random(n) < params.marketing_consent_share,
            "automated_decisions_opt_out": rng.random(n) < params.automated_opt_out_share,
            "preferred_touch_channel": _choice(rng, TOUCH_CHANNELS, TOUCH_WEIGHTS, n),
        }
    )
    latent = {
        "view_propensity": params.view_propensity_median
        * rng.lognormal(0.0, params.view_propensity_sigma, n),
        "engagement": rng.lognormal(0.0, 0.7, n),
        "spend_level": rng.gamma(params.spend_shape, params.spend_scale, n) + 20.0,
        "favourite_category": rng.choice(len(CATEGORIES), size=n, p=CATEGORY_WEIGHTS),
    }
    return frame, latent


def simulate(
    n_customers: int,
    seed: int,
    start,
    end,
    params: DemoTruthParams | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate the brand between `start` and `end` (tz-aware or UTC datetimes). Same inputs, same frames.

    Returns frames keyed customers, streams, views, orders, order_items, communities, memberships, grants,
    customer_truth (hidden per-customer truth) and purchases (hidden: covariates and theta of every paid
    purchase, for checks). Times are UTC timestamps; links use external ids.
    """
    params = params or DemoTruthParams()
    start = pd.Timestamp(start)
    end = pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    start = start.floor("s")
    end = end.floor("s")
    if end <= start:
        raise ValueError("end must be after start")
    total_s = int((end - start) // pd.Timedelta(seconds=1))
    start_epoch = int(start.timestamp())
    seqs = np.random.SeedSequence(seed).spawn(6)
    rng_streams, rng_cust, rng_proc, rng_views, rng_orders, rng_grants = (
        np.random.default_rng(s) for s in seqs
    )

    streams = _streams(rng_streams, start, end, params)
    customers, latent = _customers(rng_cust, n_customers, streams, total_s, end, params)
    state = _run_process(rng_proc, rng_views, customers, latent, streams, total_s, params)

    orders, items, purchases = _orders(rng_orders, state, customers, latent, streams, total_s, params)
    grants = _grants(rng_grants, state, customers, total_s, params)
    views = state["views"]
    memberships = state["memberships"]

    n = n_customers
    cust_ext = customers["external_id"].to_numpy()
    stream_ext = streams["external_id"].to_numpy()
    acq = customers["acquisition_stream_idx"].to_numpy()

    out_customers = customers.drop(columns=["acquisition_stream_idx", "first_seen_s"]).assign(
        acquisition_stream=np.where(acq >= 0, stream_ext[np.maximum(acq, 0)], None),
        first_seen_at=_to_ts(start_epoch, customers["first_seen_s"].to_numpy()).to_numpy(),
    )
    out_streams = pd.DataFrame(
        {
            "external_id": stream_ext,
            "title": streams["title"],
            "host_name": streams["host_name"],
            "platform": streams["platform"],
            "category": streams["category"],
            "started_at": _to_ts(start_epoch, streams["start_s"].to_numpy()),
            "ended_at": _to_ts(start_epoch, streams["end_s"].to_numpy()),
        }
    )
    out_views = pd.DataFrame(
        {
            "stream": stream_ext[views["stream"]],
            "customer": cust_ext[views["customer"]],
            "joined_at": _to_ts(start_epoch, views["joined"]),
            "watch_seconds": views["watch"],
            "comments": views["comments"],
            "likes": views["likes"],
            "shares": views["shares"],
            "buyer_view": views["buyer"],
        }
    )
    out_communities = pd.DataFrame(
        {
            "external_id": [c[0] for c in COMMUNITIES],
            "name": [c[1] for c in COMMUNITIES],
            "kind": [c[2] for c in COMMUNITIES],
            "opened_at": pd.Series([start] * len(COMMUNITIES)),
        }
    )
    out_memberships = pd.DataFrame(
        {
            "community": np.array([c[0] for c in COMMUNITIES])[memberships["community"]],
            "customer": cust_ext[memberships["customer"]],
            "joined_at": _to_ts(start_epoch, memberships["joined"]),
            "left_at": _to_ts(start_epoch, memberships["left"]),
            "activity_count": memberships["activity"],
        }
    )
    died = state["died_at"]
    truth = pd.DataFrame(
        {
            "customer": cust_ext,
            "is_alive_at_end": died >= NEVER,
            "died_at": _to_ts(start_epoch, died),
            "spend_level": np.round(latent["spend_level"], 2),
            "view_propensity": np.round(latent["view_propensity"], 6),
        }
    )
    for frame, cols in (
        (orders, ["placed_at"]),
        (grants, ["granted_at", "expires_at", "redeemed_at"]),
        (purchases, ["placed_at"]),
    ):
        for col in cols:
            frame[col] = _to_ts(start_epoch, frame[col].to_numpy())
    assert len(truth) == n
    return {
        "customers": out_customers,
        "streams": out_streams,
        "views": out_views,
        "orders": orders,
        "order_items": items,
        "communities": out_communities,
        "memberships": out_memberships,
        "grants": grants,
        "customer_truth": truth,
        "purchases": purchases,
    }


def _run_process(rng, rng_views, customers, latent, streams, total_s, params: DemoTruthParams) -> dict:
    """The time-ordered core: acquisition, viewing, community spells and the cure-model purchase process."""
    n = len(customers)
    first_seen = customers["first_seen_s"].to_numpy()
    channel = customers["acquisition_channel"].to_numpy()
    acq_stream = customers["acquisition_stream_idx"].to_numpy()
    prop = latent["view_propensity"]
    engagement = latent["engagement"]
    beta = params.beta
    window = params.window_days * DAY
    s_start = streams["start_s"].to_numpy()
    s_end = streams["end_s"].to_numpy()
    reach = streams["reach"].to_numpy()
    n_streams = len(s_start)
    # Enough ring slots for every stream that can hold a view inside a covariate window.
    if n_streams:
        span = np.searchsorted(s_start, s_start + window + 5 * HOUR, side="right") - np.arange(n_streams)
        if span.max() >= RING:
            raise ValueError("too many streams per covariate window for the ring buffer")
    acq_order = np.argsort(acq_stream, kind="stable")
    acq_bounds = np.searchsorted(acq_stream[acq_order], np.arange(n_streams + 1))
    community_share = np.array([c[3] for c in COMMUNITIES])
    community_share = community_share / community_share.sum()

    n_purch = np.zeros(n, np.int32)
    next_t = np.full(n, NEVER, np.int64)
    died_at = np.full(n, NEVER, np.int64)
    attrib = np.full(n, -1, np.int32)
    ring_joined = np.full((n, RING), NONE_YET, np.int64)
    ring_watch = np.zeros((n, RING), np.int32)
    ring_engaged = np.zeros((n, RING), bool)
    ring_members: list[np.ndarray | None] = [None] * RING
    cur_join = np.full(n, NEVER, np.int64)
    cur_leave = np.full(n, NEVER, np.int64)
    cur_comm = np.zeros(n, np.int8)

    views: dict[str, list] = {k: [] for k in ("stream", "customer", "joined", "watch", "comments", "likes")}
    views.update(shares=[], buyer=[])
    spells: dict[str, list] = {"community": [], "customer": [], "joined": [], "left": []}
    purchases: dict[str, list] = {
        k: [] for k in ("customer", "t", "number", "x_comm", "x_eng", "x_watch", "theta", "draws", "stream")
    }

    bounds = np.concatenate([[0], s_start, [total_s]]).astype(np.int64)
    activated = 0
    for i in range(len(bounds) - 1):
        lo_t, hi_t = bounds[i], bounds[i + 1]
        # (a) Acquisition: customers first seen in [lo_t, hi_t) start their first-purchase clock.
        new_hi = int(np.searchsorted(first_seen, hi_t, side="left"))
        new = np.arange(activated, new_hi)
        if len(new):
            fs = first_seen[new]
            comm_ch = channel[new] == "community"
            cur_join[new[comm_ch]] = fs[comm_ch]
            cur_comm[new[comm_ch]] = rng.choice(len(COMMUNITIES), size=int(comm_ch.sum()), p=community_share)
            theta0 = params.c_first * np.exp(beta[0] * comm_ch)
            draws = rng.poisson(theta0)
            buys = draws > 0
            next_t[new[buys]] = fs[buys] + _weibull_seconds(
                rng, draws[buys], params.first_weibull_scale_days, params.first_weibull_shape
            )
            died_at[new[~buys]] = fs[~buys]
        activated = new_hi

        # (b) The stream that opens this interval: who watches, how long, how much they interact.
        if i >= 1:
            s = i - 1
            _stream_views(
                rng_views, s, s_start, s_end, reach, first_seen, acq_order, acq_bounds, prop, engagement,
                died_at, next_t, attrib, params, views, ring_joined, ring_watch, ring_engaged, ring_members,
            )  # fmt: skip

        # (c) Community spells: at most one join or leave per customer in this interval.
        if activated:
            act = slice(0, activated)
            length = hi_t - lo_t
            days = length / DAY
            fading = _view_multiplier(died_at[act], lo_t, params)
            outside = cur_join[act] >= NEVER
            inside = ~outside & (cur_leave[act] >= NEVER)
            rate = np.where(n_purch[act] > 0, params.join_rate_buyer_per_day, params.join_rate_viewer_per_day)
            joins = outside & (rng.random(activated) < -np.expm1(-rate * fading * days))
            leave_rate = params.leave_rate_per_day * np.where(died_at[act] < lo_t, 3.0, 1.0)
            leaves = inside & (rng.random(activated) < -np.expm1(-leave_rate * days))
            j_idx = np.flatnonzero(joins)
            if len(j_idx):
                j_lo = np.maximum(lo_t, first_seen[j_idx])
                cur_join[j_idx] = j_lo + np.floor(rng.random(len(j_idx)) * (hi_t - j_lo)).astype(np.int64)
                cur_comm[j_idx] = rng.choice(len(COMMUNITIES), size=len(j_idx), p=community_share)
            l_idx = np.flatnonzero(leaves)
            if len(l_idx):
                l_lo = np.maximum(lo_t, cur_join[l_idx])
                cur_leave[l_idx] = l_lo + np.floor(rng.random(len(l_idx)) * (hi_t - l_lo)).astype(np.int64)

        # (d) Purchases in this interval, in order of purchase index.
        while True:
            idx = np.flatnonzero(next_t < hi_t)
            if not len(idx):
                break
            t = next_t[idx]
            x_comm = ((cur_join[idx] <= t) & (t < cur_leave[idx])).astype(float)
            rj = ring_joined[idx]
            in_window = (rj >= (t - window)[:, None]) & (rj < t[:, None])
            hours = (ring_watch[idx] * in_window).sum(axis=1) / HOUR
            x_eng = (ring_engaged[idx] & in_window).any(axis=1).astype(float)
            x_watch = np.log1p(hours)
            n_purch[idx] += 1
            theta = params.c_for(n_purch[idx]) * np.exp(
                beta[0] * x_comm + beta[1] * x_eng + beta[2] * x_watch
            )
            draws = rng.poisson(theta)
            stream_of = attrib[idx].copy()  # set by a buyer view that joined within 48 h before t
            attrib[idx] = -1
            for key, val in (
                ("customer", idx), ("t", t), ("number", n_purch[idx].copy()), ("x_comm", x_comm),
                ("x_eng", x_eng), ("x_watch", x_watch), ("theta", theta), ("draws", draws),
                ("stream", stream_of),
            ):  # fmt: skip
                purchases[key].append(val)
            dead = draws == 0
            died_at[idx[dead]] = t[dead]
            next_t[idx[dead]] = NEVER
            alive = idx[~dead]
            next_t[alive] = t[~dead] + _weibull_seconds(
                rng, draws[~dead], params.weibull_scale_days, params.weibull_shape
            )

        # Close the spells that ended in this interval.
        closed = np.flatnonzero(cur_leave < NEVER)
        if len(closed):
            spells["community"].append(cur_comm[closed].copy())
            spells["customer"].append(closed)
            spells["joined"].append(cur_join[closed].copy())
            spells["left"].append(cur_leave[closed].copy())
            cur_join[closed] = NEVER
            cur_leave[closed] = NEVER

    still = np.flatnonzero(cur_join < NEVER)
    spells["community"].append(cur_comm[still].copy())
    spells["customer"].append(still)
    spells["joined"].append(cur_join[still].copy())
    spells["left"].append(np.full(len(still), NEVER, np.int64))

    def cat(d, key, dtype):
        return np.concatenate(d[key]).astype(dtype) if d[key] else np.zeros(0, dtype)

    view_frame = {
        "stream": cat(views, "stream", np.int32),
        "customer": cat(views, "customer", np.int64),
        "joined": cat(views, "joined", np.int64),
        "watch": cat(views, "watch", np.int64),
        "comments": cat(views, "comments", np.int64),
        "likes": cat(views, "likes", np.int64),
        "shares": cat(views, "shares", np.int64),
        "buyer": cat(views, "buyer", bool),
    }
    spell_frame = {
        "community": cat(spells, "community", np.int64),
        "customer": cat(spells, "customer", np.int64),
        "joined": cat(spells, "joined", np.int64),
        "left": cat(spells, "left", np.int64),
    }
    order = np.lexsort((spell_frame["community"], spell_frame["joined"], spell_frame["customer"]))
    spell_frame = {k: v[order] for k, v in spell_frame.items()}
    spell_end = np.minimum(spell_frame["left"], total_s)
    spell_days = (spell_end - spell_frame["joined"]) / DAY
    spell_frame["activity"] = rng.poisson(0.15 * spell_days * engagement[spell_frame["customer"]])
    purchase_frame = {
        "customer": cat(purchases, "customer", np.int64),
        "t": cat(purchases, "t", np.int64),
        "number": cat(purchases, "number", np.int64),
        "community_member": cat(purchases, "x_comm", np.int8),
        "engaged_5plus": cat(purchases, "x_eng", np.int8),
        "log_watch_hours_30d": cat(purchases, "x_watch", float),
        "theta": cat(purchases, "theta", float),
        "draws": cat(purchases, "draws", np.int64),
        "stream": cat(purchases, "stream", np.int64),
    }
    return {
        "views": view_frame,
        "memberships": spell_frame,
        "purchases": purchase_frame,
        "died_at": died_at,
        "n_purchases": n_purch,
    }


def _view_multiplier(died_at: np.ndarray, t: int, params: DemoTruthParams) -> np.ndarray:
    """1 while alive; after death the appetite to watch falls towards a floor within a couple of weeks."""
    since = np.maximum(t - died_at, 0) / DAY
    fade = params.dead_view_floor + (1 - params.dead_view_floor) * np.exp(
        -since / params.dead_view_decay_days
    )
    return np.where(died_at <= t, fade, 1.0)


def _stream_views(
    rng, s, s_start, s_end, reach, first_seen, acq_order, acq_bounds, prop, engagement, died_at, next_t,
    attrib, params, views, ring_joined, ring_watch, ring_engaged, ring_members,
):  # fmt: skip
    start, end = int(s_start[s]), int(s_end[s])
    duration = end - start
    eligible = int(np.searchsorted(first_seen, start, side="left"))  # first seen before the stream starts
    p = -np.expm1(-prop[:eligible] * reach[s] * _view_multiplier(died_at[:eligible], start, params))
    # A customer whose next purchase follows this stream (and no later stream comes first) is keen to watch.
    nxt = next_t[:eligible]
    next_stream_start = s_start[s + 1] if s + 1 < len(s_start) else np.iinfo(np.int64).max
    intent = (
        (nxt >= start + 300)
        & (nxt < start + params.attribution_hours * HOUR)
        & (nxt - 300 < next_stream_start)
    )
    p = np.where(intent, 1 - (1 - p) * (1 - params.buy_intent_view_prob), p)
    watchers = np.flatnonzero(rng.random(eligible) < np.minimum(p, 0.95))
    acquired = acq_order[acq_bounds[s] : acq_bounds[s + 1]]  # first seen at this stream: always watch
    who = np.concatenate([watchers, acquired])
    m = len(who)
    t_next = next_t[who]
    # A buyer view: the next purchase falls within the attribution window after this stream starts and
    # no later stream starts first. The view joins at least two minutes before the purchase.
    candidate = (
        (t_next >= start + 300)
        & (t_next < start + params.attribution_hours * HOUR)
        & (t_next - 300 < next_stream_start)
    )
    room = np.where(candidate, np.minimum(0.6 * duration, t_next - 120 - start), 0.6 * duration)
    joined = start + np.floor(rng.random(m) * room).astype(np.int64)
    joined[len(watchers) :] = first_seen[acquired]
    buyer = candidate & (joined <= t_next - 120)
    watch = np.rint(rng.lognormal(np.log(360), 1.1, m) * np.where(buyer, rng.lognormal(1.0, 0.4, m), 1.0))
    watch = np.clip(watch, 10, np.maximum(end - joined, 10)).astype(np.int64)
    minutes = watch / 60
    mu = engagement[who] * 0.5 * minutes**0.6
    mu = np.where(buyer, mu * 2 + 2, mu)
    comments = rng.poisson(0.3 * mu)
    likes = rng.poisson(0.6 * mu)
    shares = rng.poisson(0.1 * mu)
    attrib[who[buyer]] = s

    views["stream"].append(np.full(m, s, np.int32))
    views["customer"].append(who)
    views["joined"].append(joined)
    views["watch"].append(watch)
    views["comments"].append(comments)
    views["likes"].append(likes)
    views["shares"].append(shares)
    views["buyer"].append(buyer)

    slot = s % RING
    previous = ring_members[slot]
    if previous is not None:
        ring_joined[previous, slot] = NONE_YET
    ring_members[slot] = who
    ring_joined[who, slot] = joined
    ring_watch[who, slot] = watch
    ring_engaged[who, slot] = (comments + likes + shares) >= params.engaged_threshold


def _orders(rng, state, customers, latent, streams, total_s, params: DemoTruthParams):
    """Paid orders are the purchases of the process; refunded and cancelled orders are extra rows beside them."""
    purchases = state["purchases"]
    cust = purchases["customer"]
    t = purchases["t"]
    stream = purchases["stream"]
    n_paid = len(t)
    gift = rng.random(n_paid) < params.gift_order_share
    cents = np.rint(latent["spend_level"][cust] * rng.lognormal(0.0, 0.35, n_paid) * 100).astype(np.int64)
    cents = np.where(gift, 0, np.maximum(cents, 990))
    other_channel = _choice(rng, ["shop", "short_video", "mini_program"], [0.45, 0.35, 0.2], n_paid)
    other_channel = np.where(
        (purchases["community_member"] == 1) & (rng.random(n_paid) < 0.4), "community", other_channel
    )
    channel = np.where(stream >= 0, "live_stream", other_channel)

    parts = [(cust, t, np.full(n_paid, "paid"), cents, channel, stream, gift, np.arange(n_paid))]
    denominator = 1.0 - params.refunded_share - params.cancelled_share
    for status, share in (("refunded", params.refunded_share), ("cancelled", params.cancelled_share)):
        k = int(round(n_paid * share / denominator))
        parent = rng.integers(0, max(n_paid, 1), k) if n_paid else np.zeros(0, np.int64)
        t_extra = t[parent] + rng.integers(600, 5 * DAY, k) if n_paid else np.zeros(0, np.int64)
        extra_cents = np.maximum(np.rint(cents[parent] * rng.lognormal(0.0, 0.3, k)), 990).astype(np.int64)
        keep = t_extra < total_s
        parts.append(
            (
                cust[parent][keep],
                t_extra[keep],
                np.full(int(keep.sum()), status),
                extra_cents[keep],
                channel[parent][keep],
                stream[parent][keep],
                np.zeros(int(keep.sum()), bool),
                np.full(int(keep.sum()), -1),
            )
        )
    o_cust, o_t, o_status, o_cents, o_channel, o_stream, o_gift, o_purchase = (
        np.concatenate(col) for col in zip(*parts, strict=True)
    )
    order = np.lexsort((o_purchase, o_cust, o_t))
    o_cust, o_t, o_status, o_cents, o_channel, o_stream, o_gift, o_purchase = (
        a[order] for a in (o_cust, o_t, o_status, o_cents, o_channel, o_stream, o_gift, o_purchase)
    )
    n_orders = len(o_t)
    order_ext = np.array([f"O{i + 1:08d}" for i in range(n_orders)], dtype=object)
    cust_ext = customers["external_id"].to_numpy()
    stream_ext = streams["external_id"].to_numpy()
    stream_cat = streams["category"].to_numpy()
    orders = pd.DataFrame(
        {
            "external_id": order_ext,
            "customer": cust_ext[o_cust],
            "placed_at": o_t,
            "status": o_status,
            "total_amount": o_cents / 100,
            "currency": params.currency,
            "channel": o_channel,
            "stream": np.where(o_stream >= 0, stream_ext[np.maximum(o_stream, 0)], None),
        }
    )

    # Items: 1-3 lines, line amounts in cents that add up to the order total exactly.
    n_items = np.where(o_gift, 1, rng.choice([1, 2, 3], size=n_orders, p=[0.55, 0.3, 0.15]))
    first = np.concatenate([[0], np.cumsum(n_items)[:-1]]).astype(np.int64)
    total_items = int(n_items.sum())
    owner = np.repeat(np.arange(n_orders), n_items)
    line_no = np.arange(total_items) - first[owner] + 1
    weight = rng.gamma(1.0, 1.0, total_items)
    share = weight / np.add.reduceat(weight, first)[owner] if n_orders else weight
    line_cents = np.floor(share * o_cents[owner]).astype(np.int64)
    remainder = o_cents - (np.add.reduceat(line_cents, first) if n_orders else 0)
    line_cents[first] += remainder
    quantity = np.where(o_gift[owner], 1, rng.choice([1, 2, 3], size=total_items, p=[0.8, 0.15, 0.05]))
    fav = np.asarray(CATEGORIES)[latent["favourite_category"][o_cust]]
    lead = np.where(o_stream >= 0, stream_cat[np.maximum(o_stream, 0)], fav)
    category = np.where(line_no == 1, lead[owner], _choice(rng, CATEGORIES, CATEGORY_WEIGHTS, total_items))
    category = np.where(o_gift[owner], "gift", category)
    prefix = pd.Series(category).map({**SKU_PREFIX, "gift": "GIFT"})
    sku = prefix + "-" + pd.Series(rng.integers(1, 31, total_items)).astype(str).str.zfill(3)
    items = pd.DataFrame(
        {
            "order": order_ext[owner],
            "line_no": line_no,
            "sku": sku.to_numpy(),
            "category": category,
            "quantity": quantity,
            "unit_price": np.round(line_cents / 100 / quantity, 4),
            "amount": line_cents / 100,
        }
    )

    paid = o_purchase >= 0
    p_idx = o_purchase[paid]
    number = purchases["number"][p_idx]
    purchase_frame = pd.DataFrame(
        {
            "order": order_ext[paid],
            "customer": cust_ext[o_cust[paid]],
            "placed_at": o_t[paid],
            "purchase_number": number,
            "stage": np.asarray(STAGES)[params.stage_for(number)],
            "community_member": purchases["community_member"][p_idx],
            "engaged_5plus": purchases["engaged_5plus"][p_idx],
            "log_watch_hours_30d": purchases["log_watch_hours_30d"][p_idx],
            "theta": purchases["theta"][p_idx],
            "draws": purchases["draws"][p_idx],
        }
    )
    return orders, items, purchase_frame


def _grants(rng, state, customers, total_s, params: DemoTruthParams) -> pd.DataFrame:
    """Campaign grants of default benefits, mostly to buyers, partly redeemed."""
    purchases = state["purchases"]
    first_seen = customers["first_seen_s"].to_numpy()
    first_buy = np.full(len(customers), NEVER, np.int64)
    firsts = purchases["number"] == 1
    first_buy[purchases["customer"][firsts]] = purchases["t"][firsts]
    died_at = state["died_at"]
    codes = np.array([c for c, _ in params.campaign_benefits])
    validity = np.array([v for _, v in params.campaign_benefits], dtype=np.int64) * DAY
    frames = []
    for k in range(params.campaigns):  # one time step per campaign
        moment = int(total_s * (k + 1) / (params.campaigns + 1))
        eligible = int(np.searchsorted(first_seen, moment, side="left"))
        bought = first_buy[:eligible] < moment
        chosen = np.flatnonzero(rng.random(eligible) < np.where(bought, 0.45, 0.06))
        m = len(chosen)
        benefit = rng.integers(0, len(codes), m)
        granted = moment + rng.integers(0, 6 * HOUR, m)
        expires = granted + validity[benefit]
        alive = died_at[chosen] > granted
        redeem = rng.random(m) < np.where(alive, 0.4, 0.08)
        redeemed = granted + np.floor(rng.random(m) * 0.9 * validity[benefit]).astype(np.int64)
        redeemed = np.where(redeem & (redeemed < total_s), redeemed, NEVER)
        frames.append(
            pd.DataFrame(
                {
                    "customer": customers["external_id"].to_numpy()[chosen],
                    "benefit_code": codes[benefit],
                    "granted_at": granted,
                    "expires_at": expires,
                    "redeemed_at": redeemed,
                    "source": "campaign",
                    "note": f"demo campaign {k + 1}",
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _epoch_seconds(values) -> np.ndarray:
    series = pd.Series(pd.to_datetime(values, utc=True))
    return ((series - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def gap_rows(
    orders: pd.DataFrame,
    views: pd.DataFrame,
    memberships: pd.DataFrame,
    as_of,
    params: DemoTruthParams | None = None,
) -> pd.DataFrame:
    """The reference "time to next purchase" rows, computed from stored data only, as documented.

    One row per paid order: purchase_number, stage, the three covariates measured at placed_at, duration in
    days to the customer's next paid order, event (1) or right-censored at `as_of` (0). Frames use the
    column names of `simulate` (customer by external id, UTC timestamps).
    """
    params = params or DemoTruthParams()
    paid = orders.loc[orders["status"] == "paid", ["external_id", "customer", "placed_at"]].copy()
    paid["t"] = _epoch_seconds(paid["placed_at"])
    paid = paid.sort_values(["customer", "t", "external_id"], kind="stable").reset_index(drop=True)
    paid["purchase_number"] = paid.groupby("customer").cumcount() + 1
    nxt = paid.groupby("customer")["t"].shift(-1)
    as_of_s = int(_epoch_seconds([as_of])[0])
    paid["event"] = nxt.notna().astype(int)
    paid["duration_days"] = (nxt.fillna(as_of_s).to_numpy() - paid["t"].to_numpy()) / DAY
    paid["stage"] = np.asarray(STAGES)[params.stage_for(paid["purchase_number"].to_numpy())]

    codes = pd.Index(pd.unique(pd.concat([paid["customer"], views["customer"]], ignore_index=True)))
    big = np.int64(2**33)
    v_key = codes.get_indexer(views["customer"]).astype(np.int64) * big + _epoch_seconds(views["joined_at"])
    order = np.argsort(v_key, kind="stable")
    v_key = v_key[order]
    watch = views["watch_seconds"].to_numpy(dtype=float)[order]
    engaged = (
        views[["comments", "likes", "shares"]].sum(axis=1).to_numpy()[order] >= params.engaged_threshold
    ).astype(np.int64)
    cs_watch = np.concatenate([[0.0], np.cumsum(watch)])
    cs_engaged = np.concatenate([[0], np.cumsum(engaged)])
    p_key = codes.get_indexer(paid["customer"]).astype(np.int64) * big + paid["t"].to_numpy()
    hi = np.searchsorted(v_key, p_key, side="left")  # joined_at < t
    lo = np.searchsorted(v_key, p_key - params.window_days * DAY, side="left")  # joined_at >= t - window
    paid["log_watch_hours_30d"] = np.log1p((cs_watch[hi] - cs_watch[lo]) / HOUR)
    paid["engaged_5plus"] = ((cs_engaged[hi] - cs_engaged[lo]) > 0).astype(int)

    spells = memberships[["customer", "joined_at", "left_at"]].copy()
    spells["j"] = _epoch_seconds(spells["joined_at"])
    spells["l"] = np.where(spells["left_at"].isna(), NEVER, _epoch_seconds(spells["left_at"].fillna(as_of)))
    both = paid[["customer", "t"]].reset_index().merge(spells[["customer", "j", "l"]], on="customer")
    inside = both.loc[(both["j"] <= both["t"]) & (both["t"] < both["l"]), "index"].unique()
    paid["community_member"] = 0
    paid.loc[inside, "community_member"] = 1
    return paid.rename(columns={"external_id": "order"})[
        [
            "order",
            "customer",
            "placed_at",
            "purchase_number",
            "stage",
            *COVARIATES,
            "duration_days",
            "event",
        ]
    ]
