"""Build eval/corpus/, the documents the development question set (eval/dev/) is asked about.

Everything here is fictional and self-consistent, and every fact a question asks about is stated
exactly once, so retrieval can be scored against one place:

- orrery-gateway-manual.pdf: the administrator manual of a made-up on-premise API gateway, 60+
  pages, chapters alternating English and Chinese, a running header on every page and printed page
  numbers that differ from the physical ones (front matter in roman numerals), as real manuals do.
- support-policy.en.txt (UTF-8), property-notice.zh.txt (GBK, as Chinese text files often are),
  campus-shuttle.zh.md, observatory.en.html, travel-policy.zh.docx.

Deterministic: the same script gives the same bytes (fixed PDF and DOCX dates), so the committed
files can be checked against it (tests/test_datasets.py does).

    python scripts/build_eval_corpus.py [--out eval/corpus]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for entry in (str(REPO), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from build_knowledge_pdf import FIXED_DATE, build  # noqa: E402

OUT = REPO / "eval" / "corpus"
MANUAL = "orrery-gateway-manual.pdf"
HEADER = "Orrery Gateway 4.3 · Administrator Manual / 管理员手册"


@dataclass(frozen=True)
class Chapter:
    title: str  # the bookmark and the contents entry
    pages: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Configuration reference: (option, what it does, default). English modules render as
# "The default value of X is Y.", Chinese ones as "X 的默认值为 Y。" so each default is one sentence.
# ---------------------------------------------------------------------------------------------

CONFIG_EN: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "listener",
        "The [listener] section controls the public listeners that clients connect to.",
        [
            ("listener.bind_address", "The address the public listeners bind to.", "0.0.0.0"),
            (
                "listener.idle_timeout",
                "How long an idle client connection stays open before the gateway closes it.",
                "75 seconds",
            ),
            (
                "listener.max_connections",
                "The largest number of client connections one node accepts at the same time.",
                "48000",
            ),
            (
                "listener.proxy_protocol",
                "Whether the listeners expect a PROXY protocol header from a load balancer in front of them.",
                "off",
            ),
            ("listener.http2", "Whether HTTP/2 is offered to clients over TLS.", "on"),
            (
                "listener.backlog",
                "The length of the kernel accept queue of each listening socket.",
                "8192",
            ),
            (
                "listener.header_read_timeout",
                "How long the gateway waits for a client to send the complete request headers.",
                "12 seconds",
            ),
        ],
    ),
    (
        "upstream",
        "The [upstream] section controls how the gateway talks to the services behind it.",
        [
            (
                "upstream.connect_timeout",
                "How long the gateway waits to open a TCP connection to an upstream target.",
                "2500 milliseconds",
            ),
            (
                "upstream.read_timeout",
                "How long the gateway waits for an upstream target to send response data.",
                "60 seconds",
            ),
            (
                "upstream.retries",
                "How many times a failed idempotent request is retried on another target.",
                "2",
            ),
            (
                "upstream.health_check_interval",
                "How often every upstream target is probed by the active health check.",
                "10 seconds",
            ),
            (
                "upstream.unhealthy_threshold",
                "The number of consecutive failed health checks after which a target is marked down.",
                "3",
            ),
            (
                "upstream.healthy_threshold",
                "The number of consecutive successful health checks after which a target is marked up again.",
                "5",
            ),
            (
                "upstream.keepalive_pool",
                "The number of idle keep-alive connections kept open to each upstream target.",
                "64",
            ),
            (
                "upstream.load_balancing",
                "The load-balancing algorithm: round_robin, least_requests or consistent_hash.",
                "least_requests",
            ),
        ],
    ),
    (
        "cache",
        "The [cache] section controls the response cache of each node.",
        [
            ("cache.enabled", "Whether responses are cached at all.", "off"),
            (
                "cache.max_entries",
                "The largest number of responses the cache of one node keeps.",
                "250000",
            ),
            ("cache.memory_limit", "The memory the response cache may use on one node.", "512 MiB"),
            (
                "cache.default_ttl",
                "How long a response without caching headers is kept.",
                "300 seconds",
            ),
            (
                "cache.stale_if_error",
                "How long a stale cached response may still be served while the upstream returns errors.",
                "6 hours",
            ),
            (
                "cache.key_includes_query",
                "Whether the query string is part of the cache key.",
                "on",
            ),
        ],
    ),
    (
        "ratelimit",
        "The [ratelimit] section sets the default request limits for each API key.",
        [
            (
                "ratelimit.algorithm",
                "The limiting algorithm: token_bucket, fixed_window or sliding_window.",
                "sliding_window",
            ),
            (
                "ratelimit.requests_per_minute",
                "The number of requests one API key may send per minute.",
                "1200",
            ),
            (
                "ratelimit.burst",
                "The number of extra requests allowed in a short burst above the limit.",
                "150",
            ),
            (
                "ratelimit.sync_interval",
                "How often the nodes of a cluster share their request counters.",
                "250 milliseconds",
            ),
            (
                "ratelimit.status_code",
                "The HTTP status code returned to a client that exceeds its limit.",
                "429",
            ),
            (
                "ratelimit.exempt_cidrs",
                "Client networks that are never rate limited.",
                "an empty list",
            ),
        ],
    ),
    (
        "tls",
        "The [tls] section controls certificates and TLS settings of the public listeners.",
        [
            ("tls.min_version", "The oldest TLS version accepted from clients.", "TLS 1.2"),
            (
                "tls.session_ticket_lifetime",
                "How long a TLS session ticket can be used to resume a session.",
                "18 hours",
            ),
            ("tls.ocsp_stapling", "Whether OCSP responses are stapled to the handshake.", "on"),
            (
                "tls.cert_renew_before",
                "How many days before expiry the gateway renews a certificate obtained through ACME.",
                "21 days",
            ),
            (
                "tls.client_auth",
                "Whether clients must present a certificate: none, optional or required.",
                "none",
            ),
            (
                "tls.dhparam_bits",
                "The size of the Diffie-Hellman parameters generated at first start.",
                "3072 bits",
            ),
        ],
    ),
    (
        "logging",
        "The [logging] section controls the gateway's own log and the access log.",
        [
            ("logging.level", "The least severe level that is written to the log.", "info"),
            ("logging.format", "The log line format: text or json.", "json"),
            ("logging.access_log", "Whether one access-log line is written per request.", "on"),
            (
                "logging.rotate_size",
                "The size at which a log file is closed and a new one is started.",
                "256 MiB",
            ),
            ("logging.keep_files", "How many rotated log files are kept.", "10"),
            (
                "logging.redact_headers",
                "Request headers whose values are replaced by asterisks in the access log.",
                "Authorization, Cookie and X-Api-Key",
            ),
        ],
    ),
    (
        "metrics",
        "The [metrics] section controls the Prometheus metrics endpoint.",
        [
            ("metrics.enabled", "Whether metrics are collected and served.", "on"),
            ("metrics.path", "The URL path of the metrics endpoint.", "/metrics"),
            (
                "metrics.histogram_buckets",
                "The bucket bounds of the latency histograms.",
                "5, 25, 100, 250, 1000 and 5000 milliseconds",
            ),
            ("metrics.per_route", "Whether metrics carry a label for each route.", "off"),
            (
                "metrics.label_limit",
                "The number of distinct values one label may take before further values are counted as other.",
                "2000",
            ),
            (
                "metrics.push_gateway",
                "The URL of a Prometheus push gateway to send metrics to.",
                "empty, which turns pushing off",
            ),
        ],
    ),
    (
        "webhooks",
        "The [webhooks] section controls the event notifications the gateway sends to other systems.",
        [
            (
                "webhooks.timeout",
                "How long the gateway waits for a webhook receiver to answer.",
                "8 seconds",
            ),
            (
                "webhooks.max_attempts",
                "How many times one event is delivered before it is dropped.",
                "6",
            ),
            (
                "webhooks.backoff",
                "The delay before the first retry of a failed delivery; each later retry doubles it.",
                "30 seconds",
            ),
            (
                "webhooks.signing_header",
                "The HTTP header that carries the signature of each delivery.",
                "X-Orrery-Signature",
            ),
            (
                "webhooks.signing_algorithm",
                "The algorithm used to sign each delivery.",
                "HMAC-SHA256",
            ),
            (
                "webhooks.queue_size",
                "The number of undelivered events a node keeps in memory.",
                "10000",
            ),
        ],
    ),
]

CONFIG_ZH: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "auth",
        "[auth] 部分控制管理控制台和管理 API 的登录与认证。",
        [
            ("auth.session_timeout", "管理控制台的会话在无操作多久之后失效。", "30 分钟"),
            ("auth.password_min_length", "管理员密码的最短长度。", "14 个字符"),
            ("auth.lockout_attempts", "连续登录失败多少次后锁定账号。", "6 次"),
            ("auth.lockout_duration", "账号被锁定后需要等待多久才能再次登录。", "20 分钟"),
            ("auth.api_key_rotation_days", "API 密钥必须轮换的周期。", "90 天"),
            ("auth.mfa_required", "管理员登录时是否必须使用双因素认证。", "on"),
            ("auth.oidc_issuer", "用于单点登录的 OIDC 签发方地址。", "空，即不启用单点登录"),
        ],
    ),
    (
        "cluster",
        "[cluster] 部分控制集群节点之间的通信与共识。",
        [
            ("cluster.name", "集群的名称，同一网络中的多个集群必须使用不同的名称。", "orrery"),
            ("cluster.gossip_interval", "节点之间交换成员信息的间隔。", "200 毫秒"),
            (
                "cluster.election_timeout",
                "Raft 跟随者在多长时间收不到心跳后发起选举。",
                "1500 毫秒",
            ),
            ("cluster.snapshot_every", "每写入多少条日志生成一次 Raft 快照。", "20000 条"),
            ("cluster.join_retries", "新节点加入集群失败后的重试次数。", "5 次"),
            (
                "cluster.quorum_loss_action",
                "集群失去多数派时节点的行为：read_only 表示继续转发流量但拒绝配置变更。",
                "read_only",
            ),
        ],
    ),
    (
        "storage",
        "[storage] 部分控制节点本地的配置与状态存储。",
        [
            ("storage.engine", "本地存储引擎。", "lmdb"),
            ("storage.path", "存储文件所在的目录。", "/var/lib/orrery/store"),
            ("storage.max_size", "本地存储允许增长到的最大大小。", "64 GiB"),
            ("storage.fsync", "写入落盘的方式：always、batch 或 never。", "batch"),
            ("storage.compaction_hour", "每天执行存储压缩的时刻。", "03:40"),
            ("storage.warn_free_percent", "磁盘剩余空间低于该比例时发出告警。", "15%"),
        ],
    ),
    (
        "scheduler",
        "[scheduler] 部分控制后台任务（证书续期、日志归档、备份等）的执行。",
        [
            ("scheduler.workers", "同时执行后台任务的工作线程数。", "4"),
            ("scheduler.queue_limit", "排队等待执行的后台任务的最大数量。", "5000"),
            ("scheduler.job_timeout", "单个后台任务的最长运行时间，超时后任务被终止。", "45 分钟"),
            ("scheduler.timezone", "计划任务所使用的时区。", "UTC"),
            ("scheduler.max_retries", "后台任务失败后的最大重试次数。", "3 次"),
            ("scheduler.history_days", "已完成任务的记录保留多久。", "30 天"),
        ],
    ),
    (
        "audit",
        "[audit] 部分控制审计日志：谁在什么时间修改了什么配置。",
        [
            ("audit.enabled", "是否记录审计日志。", "on"),
            ("audit.retention_days", "审计记录的保留时间。", "400 天"),
            ("audit.include_bodies", "审计记录中是否包含管理 API 请求的完整正文。", "off"),
            ("audit.export_format", "导出审计记录时使用的格式。", "CEF"),
            ("audit.syslog_target", "接收审计记录的 syslog 服务器地址。", "空，即不转发"),
            ("audit.hash_chain", "审计记录是否用哈希链前后相连，以便发现篡改。", "on"),
        ],
    ),
    (
        "dns",
        "[dns] 部分控制网关解析上游主机名的方式。",
        [
            (
                "dns.resolvers",
                "用于解析上游主机名的 DNS 服务器。",
                "系统 /etc/resolv.conf 中的服务器",
            ),
            (
                "dns.cache_ttl_cap",
                "DNS 解析结果在缓存中保留的最长时间，无论记录的 TTL 多长。",
                "600 秒",
            ),
            ("dns.negative_ttl", "解析失败的结果在缓存中保留的时间。", "20 秒"),
            ("dns.prefer_ipv6", "主机同时有 IPv4 和 IPv6 地址时是否优先使用 IPv6。", "off"),
            ("dns.query_timeout", "单次 DNS 查询的超时时间。", "800 毫秒"),
            ("dns.attempts", "一次解析最多向 DNS 服务器查询几次。", "2 次"),
        ],
    ),
    (
        "alerting",
        "[alerting] 部分控制网关自带的告警功能。",
        [
            ("alerting.channels", "发送告警的渠道：email、webhook 或 sms。", "email"),
            ("alerting.smtp_host", "发送告警邮件的 SMTP 服务器。", "空"),
            ("alerting.repeat_interval", "同一告警在未恢复时重复发送的间隔。", "4 小时"),
            ("alerting.group_wait", "把同类告警合并为一条通知之前等待的时间。", "45 秒"),
            ("alerting.error_rate_threshold", "5xx 响应所占比例超过该值时触发告警。", "2%"),
            ("alerting.latency_p99_threshold", "P99 延迟超过该值时触发告警。", "1200 毫秒"),
        ],
    ),
    (
        "plugins",
        "[plugins] 部分控制插件的加载与隔离。",
        [
            ("plugins.dir", "存放第三方插件的目录。", "/opt/orrery/plugins"),
            ("plugins.sandbox", "运行第三方插件的沙箱类型。", "wasm"),
            ("plugins.memory_limit", "每个插件实例可以使用的内存上限。", "64 MiB"),
            ("plugins.cpu_budget", "每个请求中插件可以使用的 CPU 时间。", "5 毫秒"),
            ("plugins.hot_reload", "插件文件变化后是否自动重新加载。", "on"),
            ("plugins.allow_network", "第三方插件是否可以主动发起网络连接。", "off"),
        ],
    ),
]


def config_page_en(section: str, intro: str, options: list[tuple[str, str, str]]) -> str:
    lines = [f"3.{section_number(section)} The [{section}] section", "", intro, ""]
    for name, what, default in options:
        lines += [name, f"{what} The default value of {name} is {default}.", ""]
    return "\n".join(lines)


def config_page_zh(section: str, intro: str, options: list[tuple[str, str, str]]) -> str:
    lines = [f"3.{section_number(section)} [{section}] 部分", "", intro, ""]
    for name, what, default in options:
        lines += [name, f"{what}{name} 的默认值为 {default}。", ""]
    return "\n".join(lines)


CONFIG_ORDER = [name for name, _, _ in CONFIG_EN] + [name for name, _, _ in CONFIG_ZH]


def section_number(section: str) -> int:
    return CONFIG_ORDER.index(section) + 2  # 3.1 is the introduction page


# ---------------------------------------------------------------------------------------------
# Error codes: (code, symbol, meaning, remedy). English pages for OG-1xxx..3xxx, Chinese for 4..6.
# ---------------------------------------------------------------------------------------------

ERRORS_EN: list[tuple[str, list[tuple[str, str, str, str]]]] = [
    (
        "Configuration errors (OG-1xxx)",
        [
            (
                "OG-1001",
                "CONFIG_PARSE",
                "the configuration file is not valid TOML",
                "run orreryctl reload --dry-run to see the line and column of the mistake",
            ),
            (
                "OG-1002",
                "CONFIG_UNKNOWN_KEY",
                "the configuration contains an option this version does not know",
                "check the spelling, or remove options that were dropped in the release notes",
            ),
            (
                "OG-1003",
                "CONFIG_RANGE",
                "an option has a value outside its allowed range",
                "set the value inside the range given in chapter 3",
            ),
            (
                "OG-1010",
                "ROUTE_CONFLICT",
                "two routes have the same host, path and method",
                "give one of the routes a different path or a higher priority",
            ),
            (
                "OG-1014",
                "CERT_KEY_MISMATCH",
                "a certificate and its private key do not belong together",
                "install the key that was used to create the certificate request",
            ),
            (
                "OG-1021",
                "PLUGIN_SIGNATURE",
                "a third-party plugin is not signed by a trusted key",
                "sign the plugin with orreryctl plugin sign, or add its key to the trust store",
            ),
            (
                "OG-1033",
                "SECRET_UNREADABLE",
                "a secret referenced by the configuration cannot be decrypted",
                "restore /etc/orrery/secrets.key from the backup of the same node",
            ),
            (
                "OG-1040",
                "CONFIG_TOO_LARGE",
                "the configuration file is larger than the allowed size",
                "move route definitions into separate files under /etc/orrery/routes.d",
            ),
        ],
    ),
    (
        "Request errors (OG-2xxx)",
        [
            (
                "OG-2201",
                "NO_ROUTE",
                "no route matches the host and path of the request",
                "add a route, or check the Host header the client sends",
            ),
            (
                "OG-2203",
                "METHOD_NOT_ALLOWED",
                "the route exists but does not accept the request method",
                "add the method to the route's methods list",
            ),
            (
                "OG-2207",
                "PATH_TOO_LONG",
                "the URL path of the request is longer than the gateway accepts",
                "shorten the path; long data belongs in the request body",
            ),
            (
                "OG-2210",
                "BODY_TOO_LARGE",
                "the request body is larger than the gateway accepts",
                "send the data in several requests or use the upload API",
            ),
            (
                "OG-2215",
                "KEY_MISSING",
                "the route requires an API key and the request has none",
                "send the key in the X-Api-Key header",
            ),
            (
                "OG-2216",
                "KEY_EXPIRED",
                "the API key of the request has passed its rotation deadline",
                "create a new key with orreryctl key create and revoke the old one",
            ),
            (
                "OG-2230",
                "RATE_LIMITED",
                "the API key has sent more requests than its limit allows",
                "wait for the window to pass, or raise the key's limit",
            ),
            (
                "OG-2242",
                "JWT_INVALID",
                "the JSON Web Token of the request has a bad signature or has expired",
                "request a fresh token from the identity provider",
            ),
        ],
    ),
    (
        "Upstream errors (OG-3xxx)",
        [
            (
                "OG-3101",
                "UPSTREAM_CONNECT",
                "the gateway could not open a connection to any target of the upstream",
                "check that the service is running and that the firewall allows the gateway",
            ),
            (
                "OG-3102",
                "UPSTREAM_TIMEOUT",
                "the upstream target did not answer before the read timeout",
                "make the service faster or raise upstream.read_timeout",
            ),
            (
                "OG-3105",
                "UPSTREAM_TLS",
                "the TLS handshake with the upstream target failed",
                "check that the target's certificate is trusted and matches its host name",
            ),
            (
                "OG-3110",
                "ALL_TARGETS_DOWN",
                "every target of the upstream is marked down by the health check",
                "repair the targets; the gateway marks them up after enough successful checks",
            ),
            (
                "OG-3117",
                "UPSTREAM_RESET",
                "the upstream target closed the connection in the middle of a response",
                "look for crashes or restarts in the service's own log",
            ),
            (
                "OG-3120",
                "DNS_FAILURE",
                "the host name of the upstream could not be resolved",
                "check the [dns] section and that the resolvers answer",
            ),
            (
                "OG-3124",
                "CIRCUIT_OPEN",
                "the circuit breaker of the upstream is open after too many failures",
                "wait 30 seconds for the half-open probe, or fix the failing service",
            ),
            (
                "OG-3131",
                "RESPONSE_TOO_LARGE",
                "the upstream response headers exceed the buffer of the gateway",
                "reduce the number or size of response headers the service sends",
            ),
        ],
    ),
]

ERRORS_ZH: list[tuple[str, list[tuple[str, str, str, str]]]] = [
    (
        "集群错误（OG-4xxx）",
        [
            (
                "OG-4001",
                "NO_QUORUM",
                "集群失去了多数派，配置无法修改",
                "恢复宕机的节点，使在线节点数超过半数",
            ),
            (
                "OG-4003",
                "NODE_CLOCK_SKEW",
                "节点之间的时钟偏差超过 500 毫秒",
                "在所有节点上启用 NTP 时间同步",
            ),
            (
                "OG-4007",
                "JOIN_REJECTED",
                "新节点的集群名称或加入令牌不正确，被拒绝加入",
                "用 orreryctl cluster token 重新生成加入令牌",
            ),
            (
                "OG-4012",
                "VERSION_SKEW",
                "集群中节点的版本相差超过一个次版本",
                "按照第 11 章的滚动升级步骤逐个升级节点",
            ),
            (
                "OG-4015",
                "SNAPSHOT_CORRUPT",
                "接收到的 Raft 快照校验失败",
                "删除该节点的 store 目录后让它重新加入集群",
            ),
            (
                "OG-4020",
                "LEADER_LOST",
                "长时间没有选出领导者",
                "检查节点之间的 7310 端口是否被防火墙阻断",
            ),
            (
                "OG-4026",
                "GOSSIP_KEY_MISMATCH",
                "节点之间的 gossip 加密密钥不一致",
                "把 /etc/orrery/gossip.key 同步到所有节点",
            ),
            (
                "OG-4031",
                "TOO_MANY_NODES",
                "集群节点数已达到上限，无法再加入新节点",
                "拆分为多个集群，或移除不再使用的节点",
            ),
        ],
    ),
    (
        "许可证错误（OG-5xxx）",
        [
            (
                "OG-5001",
                "LICENSE_MISSING",
                "没有找到许可证文件",
                "把许可证文件 license.olk 放到 /etc/orrery 目录",
            ),
            (
                "OG-5002",
                "LICENSE_EXPIRED",
                "许可证已经过期，网关进入宽限期",
                "在宽限期结束前安装续期后的许可证",
            ),
            (
                "OG-5004",
                "LICENSE_HOST_MISMATCH",
                "许可证绑定的硬件指纹与本机不符",
                "在客户门户上把许可证重新绑定到新的硬件指纹",
            ),
            (
                "OG-5006",
                "EDITION_FEATURE",
                "当前版本的许可证不包含所请求的功能",
                "升级到包含该功能的版本（例如 Enterprise 版）",
            ),
            (
                "OG-5009",
                "ROUTE_QUOTA",
                "路由数量超过了许可证允许的上限",
                "删除不用的路由，或购买更大的许可证",
            ),
            ("OG-5011", "TRIAL_ENDED", "试用许可证已经到期", "联系销售获取正式许可证"),
            (
                "OG-5013",
                "LICENSE_TAMPERED",
                "许可证文件的签名校验失败",
                "从客户门户重新下载许可证文件，不要手工编辑它",
            ),
            (
                "OG-5020",
                "NODE_QUOTA",
                "节点数量超过了许可证允许的上限",
                "减少节点，或购买包含更多节点的许可证",
            ),
        ],
    ),
    (
        "存储与备份错误（OG-6xxx）",
        [
            (
                "OG-6001",
                "STORE_FULL",
                "本地存储已达到 storage.max_size",
                "清理旧的任务记录，或调大 storage.max_size",
            ),
            (
                "OG-6002",
                "STORE_LOCKED",
                "另一个进程正在使用本地存储",
                "确认没有第二个 orreryd 进程在运行",
            ),
            (
                "OG-6005",
                "DISK_LOW",
                "磁盘剩余空间低于告警阈值",
                "清理 /var/log/orrery 中的旧日志或扩容磁盘",
            ),
            ("OG-6010", "BACKUP_TARGET", "无法写入备份目标", "检查备份目标的地址、凭据和剩余空间"),
            (
                "OG-6011",
                "BACKUP_KEY",
                "找不到备份加密密钥",
                "把 /etc/orrery/backup.key 恢复到原来的位置",
            ),
            (
                "OG-6014",
                "RESTORE_VERSION",
                "备份来自更新的网关版本，不能在旧版本上恢复",
                "先把网关升级到与备份相同或更新的版本",
            ),
            (
                "OG-6017",
                "CHECKSUM_MISMATCH",
                "备份文件的 SHA-256 校验和与清单不符",
                "换用另一份备份，并检查存储介质",
            ),
            (
                "OG-6022",
                "RESTORE_RUNNING_CLUSTER",
                "集群仍在运行时不能执行恢复",
                "先用 orreryctl cluster stop 停止所有节点",
            ),
        ],
    ),
]


def errors_page_en(title: str, entries: list[tuple[str, str, str, str]]) -> str:
    lines = [f"7 {title}", ""]
    for code, symbol, meaning, remedy in entries:
        lines += [
            f"{code} {symbol}",
            f"Error {code} means that {meaning}.",
            f"To fix {code}, {remedy}.",
            "",
        ]
    return "\n".join(lines)


def errors_page_zh(title: str, entries: list[tuple[str, str, str, str]]) -> str:
    lines = [f"7 {title}", ""]
    for code, symbol, meaning, remedy in entries:
        lines += [f"{code} {symbol}", f"错误 {code} 表示{meaning}。", f"处理方法：{remedy}。", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Version history: (version, date, codename, changes). English for 1.x-3.x, Chinese for 4.x.
# ---------------------------------------------------------------------------------------------

VERSIONS_EN: list[tuple[str, str, str, list[str]]] = [
    (
        "1.0",
        "2019-05-14",
        "Kestrel",
        ["First public release, single node only.", "Routes, API keys and the access log."],
    ),
    (
        "1.1",
        "2019-09-02",
        "Kestrel",
        [
            "Added active health checks for upstream targets.",
            "The admin console gained a route editor.",
        ],
    ),
    (
        "1.2",
        "2020-01-20",
        "Kestrel",
        ["Added the response cache.", "Fixed a memory leak in long-lived WebSocket connections."],
    ),
    (
        "1.3",
        "2020-04-27",
        "Kestrel",
        ["Added JSON log lines.", "Last release of the 1.x line; its support ended on 2022-04-27."],
    ),
    (
        "2.0",
        "2020-10-05",
        "Heron",
        [
            "Cluster mode: up to 5 nodes sharing one configuration through Raft.",
            "Configuration moved from YAML to TOML.",
        ],
    ),
    (
        "2.1",
        "2021-02-15",
        "Heron",
        ["Added the sliding_window rate-limit algorithm.", "Clusters may now have up to 9 nodes."],
    ),
    (
        "2.2",
        "2021-06-28",
        "Heron",
        ["Added webhooks for configuration changes.", "The gossip protocol is encrypted."],
    ),
    (
        "2.3",
        "2021-11-08",
        "Heron",
        ["Added the audit log with a hash chain.", "Dropped support for CentOS 7."],
    ),
    (
        "3.0",
        "2022-05-16",
        "Merlin",
        [
            "Third-party plugins run in a WebAssembly sandbox.",
            "The Lua plugin runtime was removed.",
        ],
    ),
    (
        "3.1",
        "2022-10-03",
        "Merlin",
        ["Added ACME certificate renewal.", "Clusters may now have up to 15 nodes."],
    ),
    (
        "3.2",
        "2023-03-13",
        "Merlin",
        [
            "Added OIDC single sign-on for the admin console.",
            "The OG-4003 clock-skew check was introduced.",
        ],
    ),
]

VERSIONS_ZH: list[tuple[str, str, str, list[str]]] = [
    (
        "3.3",
        "2023-08-21",
        "Merlin",
        ["新增 gRPC 中继，用于服务之间的流量。", "修复了集群选举在网络抖动时反复发生的问题。"],
    ),
    (
        "4.0",
        "2024-02-26",
        "Osprey",
        ["管理控制台全面改版，支持中文界面。", "本地存储引擎从 bbolt 换成了 lmdb。"],
    ),
    (
        "4.1",
        "2024-07-15",
        "Osprey",
        ["新增 consistent_hash 负载均衡算法。", "审计记录可以导出为 CEF 格式。"],
    ),
    (
        "4.2",
        "2025-01-13",
        "Osprey",
        ["新增告警功能，支持邮件、webhook 和短信渠道。", "插件的 CPU 时间预算可以按请求配置。"],
    ),
    (
        "4.3",
        "2025-09-08",
        "Osprey",
        ["新增 FIPS 模式（仅限 Enterprise 版）。", "备份可以直接写入兼容 S3 的对象存储。"],
    ),
    ("4.3.1", "2025-11-24", "Osprey", ["修复了 OCSP 装订在证书轮换后失效的问题。"]),
    (
        "4.3.2",
        "2026-02-09",
        "Osprey",
        ["修复了 CVE-2026-11873：管理 API 在特定请求下会泄露会话令牌。", "这是本手册对应的版本。"],
    ),
]


def versions_page_en(entries: list[tuple[str, str, str, list[str]]], title: str) -> str:
    lines = [title, ""]
    for version, date, codename, changes in entries:
        lines.append(f"Version {version} ({codename}) was released on {date}.")
        lines += changes
        lines.append("")
    return "\n".join(lines)


def versions_page_zh(entries: list[tuple[str, str, str, list[str]]], title: str) -> str:
    lines = [title, ""]
    for version, date, codename, changes in entries:
        lines.append(f"{version} 版（代号 {codename}）发布于 {date}。")
        lines += changes
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The prose chapters, one string per physical page.
# ---------------------------------------------------------------------------------------------

FRONT_ABOUT = """About this manual

This manual describes Orrery Gateway 4.3.2, the on-premise API gateway made by Calyx Systems. It is written for the administrators who install, configure and run the gateway.

Chapters alternate between English and Chinese. Each chapter is complete in its own language; the manual does not repeat a chapter in the other language.

Conventions
Configuration options are written as section.option, for example cache.max_entries. They live in the file /etc/orrery/orrery.toml.
Commands are run with orreryctl, the command-line client that ships with the gateway.
Sizes use binary units: 1 MiB is 1024 KiB.

Safety notices for the hardware appliances
Disconnect both power supplies before opening the chassis of an appliance.
The appliances must be installed in a rack with at least 1U of free space above the OG-900.
Only service staff trained by Calyx Systems may replace the internal battery.

Manual revision 4.3-R2 was published on 2026-03-18.
Send corrections to docs@calyx.example; please quote the printed page number."""

OVERVIEW = (
    """1 Overview

1.1 What Orrery Gateway does
Orrery Gateway sits between client applications and the services of an organisation. It receives every API request, checks who sent it, applies limits, and forwards it to the right service.
The gateway also caches responses, records metrics and an audit trail, and runs plugins that change requests on their way.
Orrery Gateway runs as a single node or as a cluster of nodes that share one configuration.

1.2 Editions
Orrery Gateway is sold in three editions: Community, Standard and Enterprise.
The Community edition is free of charge, runs on a single node and supports at most 3 upstream clusters.
The Standard edition supports clusters and at most 40 upstream clusters.
The Enterprise edition has no limit on upstream clusters and adds multi-tenancy and FIPS mode.
All three editions use the same software package; the licence file decides which features are active.

1.3 The name
The product is named after the orrery, a mechanical model of the solar system, because the gateway keeps many moving services in step.""",
    """1.4 Hardware appliances
Calyx Systems sells the gateway pre-installed on three appliance models.

OG-210
The OG-210 is a desktop appliance for branch offices.
The OG-210 has a 4-core processor, 16 GB of memory and a 480 GB SSD.
The OG-210 has four 1 GbE network ports and draws at most 45 watts.

OG-450
The OG-450 is a 1U rack appliance for medium-sized sites.
The OG-450 has a 16-core processor, 64 GB of memory and two 1.92 TB SSDs in a mirror.
The OG-450 has two 25 GbE ports and four 10 GbE ports.
The OG-450 has two hot-swappable 550 W power supplies.

OG-900
The OG-900 is a 2U rack appliance for data centres.
The OG-900 has two 32-core processors, 256 GB of memory and four 3.84 TB NVMe drives.
The OG-900 has four 100 GbE ports and weighs 21.5 kg.
The OG-900 handles up to 420000 requests per second in the vendor's benchmark with 1 KiB responses.""",
    """1.5 Requirements for the software edition
The gateway can also be installed on your own servers or virtual machines.
Supported operating systems are Debian 12, Ubuntu 24.04 LTS and Red Hat Enterprise Linux 9.
The gateway needs a Linux kernel of version 5.15 or newer.
The processor must be x86-64 with the x86-64-v2 instruction set, or 64-bit ARM (ARMv8.2 or newer).
A node needs at least 4 GB of memory; 16 GB is recommended for production.
A node needs at least 40 GB of free disk space for the program, the local store and the logs.
Every node of a cluster should have the same amount of memory and the same processor type.

1.6 Browsers for the admin console
The admin console supports the two most recent major versions of Firefox, Chrome, Edge and Safari.
The admin console needs a screen at least 1280 pixels wide.""",
)

INSTALL_ZH = (
    """2 安装

2.1 安装包与目录
Orrery Gateway 以 Debian 软件包和 RPM 软件包两种形式发布。
4.3.2 版的 Debian 软件包文件名为 orrery-gateway_4.3.2_amd64.deb。
4.3.2 版的 RPM 软件包文件名为 orrery-gateway-4.3.2-1.el9.x86_64.rpm。
程序安装在 /opt/orrery 目录。
配置文件位于 /etc/orrery 目录，主配置文件是 /etc/orrery/orrery.toml。
日志写入 /var/log/orrery 目录。
安装程序会创建名为 orrery 的系统用户，其 UID 固定为 6120，网关进程以该用户身份运行。
网关的主进程名为 orreryd，由 systemd 服务 orrery-gateway.service 管理。

2.2 安装步骤
在 Debian 或 Ubuntu 上，用 apt install ./orrery-gateway_4.3.2_amd64.deb 安装软件包。
在 Red Hat Enterprise Linux 上，用 dnf install 安装 RPM 软件包。
安装完成后，服务不会自动启动，需要先完成初始化。""",
    """2.3 初始化与首次登录
初始化命令是 orreryctl init，它会生成节点密钥、默认配置和管理员账号。
初始管理员账号名为 admin。
初始管理员密码由 orreryctl init 随机生成，并写入 /etc/orrery/initial-admin.txt 文件。
初始管理员密码在生成后 24 小时内有效，过期后需要重新运行 orreryctl init --reset-admin。
首次登录管理控制台时，系统会强制要求修改初始密码。
初始化完成后，用 systemctl enable --now orrery-gateway 启动服务并设为开机自启。
服务启动后，可以在浏览器中打开管理控制台完成其余设置。

2.4 卸载
卸载软件包不会删除 /etc/orrery 和 /var/lib/orrery 中的数据。
如果要彻底删除数据，需要在卸载后手工删除这两个目录。""",
    """2.5 许可证激活
许可证文件名为 license.olk，放在 /etc/orrery 目录后执行 orreryctl license apply 即可激活。
激活过程完全离线进行，网关不会连接 Calyx Systems 的服务器。
新安装的网关自带试用许可证，试用期为 45 天。
正式许可证过期后，网关有 14 天的宽限期，宽限期内所有功能照常工作，但管理控制台会显示警告。
宽限期结束后，网关继续转发流量，但不再接受任何配置变更。
许可证与硬件指纹绑定，更换主板或网卡后需要在客户门户上重新绑定。
一份许可证可以在客户门户上重新绑定，每年最多 4 次。""",
    """2.6 集群部署
生产环境建议使用集群部署，以便单个节点故障时服务不中断。
集群的节点数应为奇数，这样在网络分区时总有一侧拥有多数派。
新节点加入集群时，需要使用现有节点上 orreryctl cluster token 生成的加入令牌。
加入令牌的有效期为 2 小时。
集群中所有节点必须运行相同的次版本，例如都是 4.3.x。
节点之间的网络往返延迟应低于 10 毫秒，因此不建议把一个集群跨越多个城市部署。
跨地域部署时，应在每个地域各建一个集群，再用配置同步功能保持路由一致。""",
)

PORTS = (
    """4 Network ports

4.1 Data-plane ports
The public HTTP listener uses TCP port 8080.
The public HTTPS listener uses TCP port 8443.
The gRPC relay for service-to-service traffic uses TCP port 7707.
The admin console and the admin API are served over HTTPS on TCP port 9443.
Prometheus metrics are served on TCP port 9464.
Cluster nodes exchange gossip messages on port 7946, over both TCP and UDP.
The Raft consensus protocol between cluster nodes uses TCP port 7310.

4.2 Firewall advice
Only ports 8080 and 8443 need to be reachable from clients.
Ports 7310 and 7946 need to be open only between the nodes of a cluster.
Restrict port 9443 to the networks your administrators work from.
All ports can be changed in the configuration, but the cluster ports must be the same on every node.""",
    """4.3 管理网络端口
SNMP 代理使用 UDP 端口 1161，只在启用 SNMP 时监听。
审计记录通过 TCP 端口 6514 以 TLS 加密的 syslog 协议转发。
集群节点之间的文件同步（证书、插件）使用 TCP 端口 7311。
备份复制到另一台网关时使用 TCP 端口 7390。
插件调试器使用 TCP 端口 9229，并且只监听 127.0.0.1。
如果启用了 IPv6，以上所有端口同时在 IPv6 地址上监听。

4.4 出站连接
网关本身只在以下情况下主动发起出站连接：访问上游服务、发送告警、上传备份、通过 ACME 申请证书。
网关从不向 Calyx Systems 发送遥测数据。""",
)

LIMITS = (
    """5 Limits

5.1 Request limits
The largest request body the gateway accepts is 32 MiB.
The request headers of one request may total at most 64 KiB.
A URL path may be at most 8 KiB long.
One node keeps at most 65000 concurrent WebSocket connections.
A WebSocket message may be at most 16 MiB.

5.2 Configuration limits
One gateway holds at most 20000 routes.
One upstream cluster may have at most 512 targets.
At most 12 plugins can be attached to one route.
The configuration file may be at most 4 MiB; larger route sets belong in /etc/orrery/routes.d.
A route name may be at most 64 characters long and may contain letters, digits, dots and hyphens.""",
    """5.3 租户与密钥限制
Enterprise 版最多支持 2000 个租户。
每个租户最多可以创建 300 个 API 密钥。
API 密钥是长度为 40 个字符的随机字符串。
管理 API 对每个访问令牌每分钟最多处理 600 次调用。

5.4 集群限制
一个集群至少需要 3 个节点，最多支持 15 个节点。
单个证书文件（包括证书链）最大为 1 MiB。
一个集群中最多可以安装 500 张证书。""",
)

CLI = (
    """6 The orreryctl command line

6.1 Everyday commands
orreryctl status prints the health, version and role of every node in the cluster.
orreryctl reload applies a changed configuration without dropping open connections.
orreryctl reload --dry-run only validates the configuration and reports its errors.
orreryctl route list shows all routes; orreryctl route show NAME prints one route with its plugins.
orreryctl route add creates a route from a TOML snippet read from standard input.
orreryctl logs --follow streams the gateway log of the node it runs on.

6.2 Options every command accepts
The --output option accepts table, json and yaml; the default is table.
orreryctl reads the address of the admin API from the ORRERY_ADMIN_URL environment variable.
orreryctl reads its access token from the file ~/.config/orrery/token unless ORRERY_TOKEN is set.
The --timeout option limits how long orreryctl waits for the admin API; the default is 15 seconds.""",
    """6.3 Exit codes
Exit code 0 means the command succeeded.
Exit code 3 means the configuration is invalid.
Exit code 4 means the admin API could not be reached.
Exit code 5 means authentication failed or the token has expired.
Exit code 7 means the operation timed out.
Exit code 9 means the command needs a newer gateway version than the one it talks to.

6.4 Support bundles
orreryctl support-bundle collects the last 72 hours of logs, the current configuration and the node metrics into one archive.
Passwords, private keys and API keys are removed from the support bundle before it is written.
The support bundle is written to /var/tmp/orrery-support-HOSTNAME-DATE.tar.zst.""",
    """6.5 证书与密钥命令
orreryctl cert list 列出集群中安装的所有证书及其过期时间。
orreryctl cert list --expiring 30d 只列出 30 天内将要过期的证书。
orreryctl cert rotate 会立即为所有监听器更换证书，并且不中断现有连接。
orreryctl key create --tenant 名称 为指定租户创建一个新的 API 密钥。
orreryctl key revoke 会立即吊销一个 API 密钥，吊销在 5 秒内同步到所有节点。
orreryctl plugin sign 用管理员的签名密钥为第三方插件签名。""",
    """6.6 节点维护命令
orreryctl node drain 会把节点上的新连接引向其他节点，并等待现有连接结束，最长等待 300 秒。
orreryctl node cordon 让节点不再接收新流量，但不会断开现有连接。
orreryctl node uncordon 让节点重新接收流量。
orreryctl node rejoin 让一个曾经离开的节点重新加入集群。
orreryctl cluster stop 会依次停止集群中的所有节点。
orreryctl upgrade check 检查集群是否满足滚动升级的条件，并列出需要先处理的问题。""",
)

MONITORING = (
    """8 Monitoring

8.1 Metrics
orrery_requests_total counts all requests, labelled by route, method and status code.
orrery_request_duration_seconds is a histogram of the time from receiving a request to sending the last byte of the response.
orrery_upstream_up is 1 while an upstream target passes its health checks and 0 while it is marked down.
orrery_ratelimit_rejections_total counts the requests rejected by rate limiting.
orrery_cache_hit_ratio is the share of cacheable requests served from the cache over the last 5 minutes.
orrery_cluster_leader is 1 on the node that is currently the Raft leader and 0 on all others.
orrery_license_days_left is the number of days until the licence expires.

8.2 Suggested alerts
Alert when orrery_upstream_up stays at 0 for more than 2 minutes.
Alert when orrery_license_days_left falls below 30.""",
    """8.3 健康检查接口
存活检查接口为 /healthz，只要进程在运行就返回 200。
就绪检查接口为 /readyz，节点加载完配置并加入集群后才返回 200。
节点启动后，就绪检查通常在 20 秒内变为就绪。
这两个接口都在管理端口上提供，并且不需要认证。

8.4 管理控制台的仪表盘
管理控制台的首页仪表盘每 10 秒刷新一次。
仪表盘保留最近 7 天的图表数据，更早的数据需要通过 Prometheus 查看。""",
)

BACKUP_ZH = (
    """9 备份与恢复

9.1 自动备份
网关默认每天 02:30 自动创建一次备份。
默认保留最近 14 份备份，更早的备份会被自动删除。
备份内容包括配置、证书、API 密钥和审计记录，但不包括访问日志。
备份文件使用 AES-256-GCM 加密，加密密钥保存在 /etc/orrery/backup.key。
每份备份都附带一个清单文件，其中记录了备份文件的 SHA-256 校验和。
备份可以写入本地目录、另一台网关或兼容 S3 的对象存储。""",
    """9.2 从备份恢复
恢复之前必须先用 orreryctl cluster stop 停止集群中的所有节点。
恢复命令是 orreryctl backup restore 备份文件路径。
恢复只能在与备份相同或更新的网关版本上进行。
恢复完成后，第一个启动的节点会成为领导者，其他节点随后从它同步数据。
由于备份每天创建一次，按默认设置最多会丢失 24 小时内的配置变更。

9.3 手动备份
orreryctl backup create 会立即创建一份备份。
在升级之前，务必先手动创建一份备份。""",
)

SECURITY = (
    """10 Security

10.1 TLS
The public listeners accept TLS 1.2 and TLS 1.3; older versions are always refused.
With TLS 1.2, only cipher suites with forward secrecy and AEAD encryption are offered.
The admin console always requires TLS 1.3.

10.2 Secrets at rest
Secrets in the configuration, such as upstream passwords, are encrypted at rest with XChaCha20-Poly1305.
The key that encrypts secrets is stored in /etc/orrery/secrets.key.
On the hardware appliances, the secrets key is sealed in the TPM 2.0 chip and never written to disk.

10.3 FIPS mode
FIPS mode restricts the gateway to FIPS 140-3 validated algorithms.
FIPS mode is available in the Enterprise edition only.
Turning FIPS mode on or off needs a restart of every node.""",
    """10.4 Admin access
Every change made in the admin console or through the admin API is written to the audit log with the name of the administrator.
There are four admin roles: viewer, operator, admin and owner.
A viewer can read the configuration but not change it.
An operator can change routes and upstreams but not users, licences or certificates.
Only an owner can delete the cluster or transfer ownership.
The admin console can be limited to a list of client networks with the admin.allowed_networks option.

10.5 Reporting vulnerabilities
Report security problems to security@calyx.example.
Calyx Systems answers a vulnerability report within 5 business days.
Fixes for critical vulnerabilities are released for every version that is still supported.""",
)

UPGRADE_ZH = """11 升级

11.1 滚动升级
集群可以在不中断服务的情况下逐个节点升级，这称为滚动升级。
滚动升级一次只能跨一个次版本，例如从 4.2 升级到 4.3；从 4.1 升级到 4.3 需要先升级到 4.2。
升级前先运行 orreryctl upgrade check，并手动创建一份备份。
升级每个节点前，先用 orreryctl node drain 把它上面的连接迁走。
领导者节点应当最后升级。
升级过程中，新旧版本的节点可以共存，但在所有节点完成升级之前不能修改配置。

11.2 回退
如果升级后出现问题，可以把已经升级的节点逐个降级回原来的版本。
一旦所有节点都升级完成并修改过配置，就不能再降级，只能从备份恢复。"""

TROUBLESHOOTING = (
    """12 Troubleshooting

Clients get error OG-2201 for a route that exists.
The route probably matches on a host name. Check that clients send the expected Host header; the admin console's route tester shows which route a request would match.

The admin console shows the node as "degraded".
A node is degraded when its local store is more than 85% full or when its clock differs from the leader's by more than 250 milliseconds.

Requests are slow only for the first request after a pause.
The keep-alive connections to the upstream were closed by a firewall. Lower the firewall's idle timeout or set upstream.keepalive_pool to 0 to turn keep-alive off.

orreryctl answers every command with exit code 4.
orreryctl cannot reach the admin API: check ORRERY_ADMIN_URL and that port 9443 is open.""",
    """12 Troubleshooting (continued)

After a certificate rotation, some clients still see the old certificate.
Those clients resumed a TLS session. Sessions resumed from a ticket keep the old certificate until the ticket expires.

The gateway refuses to start with "secrets key missing".
The file /etc/orrery/secrets.key was deleted or is not readable by the orrery user. Restore it from a backup of the same node.

Memory use grows slowly on a node with many WebSocket clients.
Each WebSocket connection holds two 32 KiB buffers. Plan about 64 KiB of memory per open WebSocket connection.

The leader changes several times per hour.
This happens when the network between nodes drops packets. Check the round-trip time between nodes and the cluster.election_timeout option.""",
    """12 故障排查（续）

问：管理控制台登录时提示账号已锁定。
答：连续登录失败次数过多时账号会被锁定。另一位管理员可以在“用户”页面立即解锁，也可以等待锁定时间结束。

问：网关日志中反复出现 OG-4003。
答：各节点的时钟不同步。在所有节点上启用 chrony 或 systemd-timesyncd 后，该错误通常会在一分钟内消失。

问：升级后管理控制台显示空白页。
答：浏览器缓存了旧版本的脚本。按 Ctrl+Shift+R 强制刷新即可。

问：备份任务每天都失败，错误为 OG-6010。
答：备份目标不可写。如果备份写入对象存储，请检查访问密钥是否已过期，以及存储桶是否开启了对象锁定。""",
    """12 故障排查（续）

问：插件加载失败，日志提示超出内存限制。
答：插件实例使用的内存超过了 plugins.memory_limit。可以调大该限制，或者减少插件中缓存的数据。

问：某个节点一直无法通过就绪检查。
答：该节点可能无法连接到集群中的其他节点。检查 7310 和 7946 端口是否放行，以及节点的集群名称是否一致。

问：访问日志中看不到请求的查询参数。
答：查询参数中的 token、password 和 secret 字段会被自动替换为星号，其余参数会照常记录。""",
)

PLUGINS = (
    """13 Built-in plugins

Orrery Gateway ships with the following plugins; they run natively and need no sandbox.
The jwt-verify plugin checks the signature and expiry of JSON Web Tokens against keys fetched from a JWKS URL every 10 minutes.
The cors plugin answers CORS preflight requests and adds the CORS headers to responses.
The request-id plugin adds an X-Request-Id header containing a 26-character ULID to every request that has none.
The ip-restrict plugin allows or denies requests by client network.
The body-limit plugin rejects request bodies larger than a size set per route.
The header-rewrite plugin adds, renames or removes request and response headers.
The canary plugin sends a set share of the traffic of a route to a second upstream; the share can be set in steps of 0.1 percent.
The mirror plugin copies requests to a second upstream and discards that upstream's responses.""",
    """13.1 插件开发
第三方插件使用 WebAssembly 编写，可以用 Rust、Go 或 AssemblyScript 编译。
插件通过 Orrery 插件接口 OPI 第 3 版与网关交互。
每个插件包是一个扩展名为 .opk 的文件，其中包含插件的 WebAssembly 模块和清单。
插件在加载前必须经过签名，否则网关会报告错误 OG-1021。
同一个插件可以挂载到多条路由上，每条路由可以有不同的插件参数。
插件按照挂载时指定的优先级依次执行，数字越小越先执行。""",
)

ROUTING = (
    """14 Routing

14.1 How a route is chosen
A route matches a request by host, path and method.
When several routes match a request, the route with the longest path prefix wins.
When two matching routes have paths of the same length, the route with the lower priority number wins.
A host name may start with a wildcard label, such as *.example.com; the wildcard matches exactly one label.
A path may contain named parameters written as {name}, which plugins can read.
Regular-expression paths are supported, but they are tried only after all prefix paths.
With strip_prefix = true, a route removes its path prefix before forwarding the request.
Route changes take effect on every node within 2 seconds of being saved.

14.2 Testing routes
The route tester in the admin console shows which route a request would match and why the other candidates lost.""",
    """14.3 多租户（仅限 Enterprise 版）
租户是 Enterprise 版中相互隔离的一组路由、密钥和用户。
每个租户都有自己的管理员，租户管理员只能看到本租户的配置。
租户名称只能包含小写字母、数字和连字符，长度为 3 到 32 个字符。
删除租户后，该租户的路由和密钥会保留 7 天，在此期间可以恢复，7 天后被彻底清除。
每个租户可以设置自己的月度请求配额，配额在每个自然月的第一天重置。
管理员可以按租户导出月度用量报表，报表格式为 CSV。""",
)

APPENDIX = (
    """Appendix A: Environmental specifications of the appliances

The appliances operate at temperatures from 0 to 40 degrees Celsius.
The appliances can be stored at temperatures from -20 to 60 degrees Celsius.
The appliances operate at 10 to 85 percent relative humidity, without condensation.
All appliances accept 100 to 240 volts AC at 50 or 60 hertz.
The OG-450 and the OG-900 have a mean time between failures of 180000 hours.
The OG-210 is cooled passively and makes no fan noise.
The OG-900 produces at most 62 decibels of fan noise at full load.""",
    """附录 B：保修与硬件服务

所有硬件设备均提供 3 年保修，自发货之日起计算。
保修期内，故障部件由 Calyx Systems 免费更换。
提交更换申请后，替换部件会在 5 个工作日内寄出。
购买高级硬件服务后，替换部件会在下一个工作日送达，并由工程师上门安装。
更换下来的硬盘和固态盘可以由客户自行保留，以保护数据安全。
保修不包括因雷击、进水或未经授权的拆机造成的损坏。""",
    """Appendix C: Glossary

Route: a rule that matches requests by host, path and method and sends them to an upstream.
Upstream: a group of targets that serve the same service.
Target: one address and port of an upstream.
Tenant: an isolated group of routes, keys and users inside one Enterprise gateway.
Drain: moving connections away from a node before maintenance.
Leader: the node that orders all configuration changes in a cluster.
Quorum: more than half of the nodes of a cluster.""",
)


def config_intro_page() -> str:
    return """3 Configuration reference

3.1 How configuration works
All options live in /etc/orrery/orrery.toml, grouped in sections such as [listener] and [cache].
An option can be overridden by an environment variable: ORRERY_ followed by the section and option in upper case, joined by a double underscore, for example ORRERY_CACHE__MAX_ENTRIES.
Changes take effect with orreryctl reload; options marked "restart" in the admin console need a restart of the node instead.
In a cluster, the configuration is stored in Raft and is the same on every node; editing the file on one node and reloading changes it everywhere.

The following sections list every option with its default value. Sections 3.2 to 3.9 are in English, sections 3.10 to 3.17 in Chinese."""


def manual_chapters() -> list[Chapter]:
    config_pages = [config_intro_page()]
    config_pages += [config_page_en(*module) for module in CONFIG_EN]
    config_pages += [config_page_zh(*module) for module in CONFIG_ZH]
    error_pages = [errors_page_en(*group) for group in ERRORS_EN]
    error_pages += [errors_page_zh(*group) for group in ERRORS_ZH]
    history = (
        versions_page_en(VERSIONS_EN[:4], "11.3 Version history: 1.x (Kestrel)"),
        versions_page_en(VERSIONS_EN[4:8], "11.3 Version history: 2.x (Heron)"),
        versions_page_en(VERSIONS_EN[8:], "11.3 Version history: 3.0 to 3.2 (Merlin)"),
        versions_page_zh(VERSIONS_ZH[:3], "11.4 版本历史：3.3 至 4.1"),
        versions_page_zh(VERSIONS_ZH[3:], "11.4 版本历史：4.2 至 4.3.2"),
    )
    return [
        Chapter("1 Overview", OVERVIEW),
        Chapter("2 安装", INSTALL_ZH),
        Chapter("3 Configuration reference / 配置参考", tuple(config_pages)),
        Chapter("4 Network ports / 网络端口", PORTS),
        Chapter("5 Limits / 限制", LIMITS),
        Chapter("6 orreryctl", CLI),
        Chapter("7 Error codes / 错误代码", tuple(error_pages)),
        Chapter("8 Monitoring / 监控", MONITORING),
        Chapter("9 备份与恢复", BACKUP_ZH),
        Chapter("10 Security", SECURITY),
        Chapter("11 Upgrades and version history / 升级与版本历史", (UPGRADE_ZH, *history)),
        Chapter("12 Troubleshooting / 故障排查", TROUBLESHOOTING),
        Chapter("13 Plugins / 插件", PLUGINS),
        Chapter("14 Routing and tenants / 路由与租户", ROUTING),
        Chapter("Appendices / 附录", APPENDIX),
    ]


ROMAN = ("i", "ii", "iii", "iv", "v")


def manual_pages() -> list[tuple[str | None, str]]:
    """(bookmark, text) per physical page: cover, contents and "about" numbered i-iii, then the
    chapters numbered from 1, as printed manuals are (so printed and physical pages differ)."""
    chapters = manual_chapters()
    front = 3
    contents = ["Contents / 目录", ""]
    printed = 1
    for chapter in chapters:
        contents.append(f"{chapter.title} .......... {printed}")
        printed += len(chapter.pages)
    cover = """Orrery Gateway 4.3
Administrator Manual
管理员手册

Calyx Systems

Software version 4.3.2
Manual revision 4.3-R2

This manual is fictional. It was written for the kbqa evaluation corpus; the product, the company and all numbers in it are made up."""
    pages: list[tuple[str | None, str]] = [
        ("Cover", cover),
        ("Contents / 目录", "\n".join(contents)),
        ("About this manual", FRONT_ABOUT),
    ]
    pages = [(mark, f"{text}\n\n— {ROMAN[i]} —") for i, (mark, text) in enumerate(pages)]
    printed = 1
    for chapter in chapters:
        for index, text in enumerate(chapter.pages):
            mark = chapter.title if index == 0 else None
            pages.append((mark, f"{HEADER}\n\n{text}\n\n— {printed} —"))
            printed += 1
    assert len(pages) == front + sum(len(c.pages) for c in chapters)
    return pages


# ---------------------------------------------------------------------------------------------
# The smaller documents, one per format.
# ---------------------------------------------------------------------------------------------

SUPPORT_POLICY_EN = """Calyx Systems - Support Policy for Orrery Gateway
Effective 1 March 2026

1. Scope

This policy covers customers with a valid Standard or Enterprise subscription.
Community edition users get help only through the public forum.

2. Severity levels and response times

Severity 1 means that production traffic is down or badly degraded and there is no workaround.
For Severity 1 cases, Calyx Systems responds within 30 minutes, 24 hours a day, 7 days a week.
Severity 2 means that an important function is impaired but traffic still flows.
For Severity 2 cases, Calyx Systems responds within 4 business hours.
Severity 3 means a problem that has a workaround, or a question about configuration.
For Severity 3 cases, Calyx Systems responds within 2 business days.
Severity 4 means a feature request or an error in the documentation.
For Severity 4 cases, Calyx Systems responds within 5 business days.
Severity 1 cases must be opened by telephone; all other cases can be opened in the support portal.

3. Business hours

Business hours are 08:00 to 18:00, Monday to Friday, in the customer's time zone, excluding public holidays.
Cases opened outside business hours are answered from the start of the next business day, except Severity 1 cases.

4. Supported versions

Each minor version of Orrery Gateway is supported for 24 months after its release.
During the last 6 months of that period, a version receives security fixes only.
Version 4.1 reaches the end of support on 15 July 2026.

5. Support bundles and customer data

Support bundles uploaded to the support portal are deleted 60 days after the case is closed.
Calyx engineers never ask for private keys or licence files.

6. Premium Support

Premium Support adds a named technical account manager to the subscription.
Premium Support customers get a health check of their clusters every quarter.
Premium Support includes up to 40 hours of on-site help per year.

7. Escalation

A customer can ask for a case to be escalated to a duty manager at any time.
A Severity 1 case that is not resolved within 8 hours is escalated to the head of support automatically.
"""

PROPERTY_NOTICE_ZH = """枫林苑小区物业服务中心通知
2026 年 4 月

各位业主、住户：

为保障小区设施正常运行，现将四月份的几项安排通知如下，请大家相互转告。

一、停水通知
因二次供水设备检修，2026 年 4 月 12 日 9:00 至 17:00，3 号楼至 7 号楼暂停供水。
请受影响的住户提前储备生活用水，检修结束后请先放水几分钟再使用。

二、电梯年检
2026 年 4 月 15 日上午，2 号楼的两部电梯将依次停运接受年检，每部电梯停运约 2 小时。
年检期间，请行动不便的住户提前与物业服务中心联系。

三、快递柜迁移
南门的快递柜将于 4 月 20 日迁至北门岗亭旁，迁移当天快递柜暂停使用。

四、垃圾分类
生活垃圾实行定时定点投放，投放时间为每天 7:00 至 9:00 和 18:00 至 21:00。
大件垃圾请预约后在每周六上午送到西侧临时堆放点。

五、物业费与停车费
住宅物业费标准为每平方米每月 2.6 元，请于 4 月 30 日前缴纳本季度的物业费。
地下车库月租车位的费用为每月 350 元。

六、装修管理
装修施工时间为工作日 8:30 至 12:00 和 14:00 至 18:00，周末和法定节假日禁止进行产生噪音的施工。

物业服务中心电话：0571-8820 6618，24 小时有人值班。

枫林苑小区物业服务中心
"""

CAMPUS_SHUTTLE_ZH = """# 青岚大学校园班车乘车指南

本指南介绍青岚大学校园班车的线路、时刻和乘车规则。

## 线路

校园班车共有 A、B 两条线路。
A 线从东门出发，经过图书馆和理工楼，终点为体育馆，全程约 14 分钟。
B 线从南门出发，经过学生公寓区和医学院，终点为西门，全程约 22 分钟。

## 发车时间

工作日 7:00 至 9:00 的高峰时段，A 线每 6 分钟发一班车。
工作日其他时段，A 线每 15 分钟发一班车。
B 线全天每 20 分钟发一班车。
A 线的末班车于 22:40 从东门发出。
周末和法定节假日 B 线停运，A 线每 30 分钟发一班车。
寒假和暑假期间，校园班车全部停运。

## 票价与乘车规则

学生刷校园卡乘车，每次 1 元。
教职工凭工作证免费乘车。
每辆班车最多可以搭载 32 名乘客，满员后请等候下一班车。
车内禁止饮食，宠物不得上车。

## 车辆

校园班车全部是纯电动客车，充满一次电可以行驶 260 公里。
班车每天夜间在体育馆北侧的充电场站充电。

## 失物招领

在班车上遗失的物品会在当天送到东门值班室，保管 30 天。
班车服务电话为校内分机 6031。
"""

OBSERVATORY_EN = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hollin Ridge Observatory - Visitor information</title>
<style>body { font-family: sans-serif; max-width: 48em; margin: auto; }</style>
<script>window.dataLayer = [];</script>
</head>
<body>
<nav><a href="#visit">Visit</a> <a href="#tickets">Tickets</a> <a href="#rules">Rules</a></nav>
<h1>Hollin Ridge Observatory</h1>
<p>The Hollin Ridge Observatory stands on a mountain ridge at an altitude of 2350 metres.</p>
<p>The observatory was founded in 1968 by the University of Tarnwick.</p>
<h2>Telescopes</h2>
<p>The main telescope of the observatory, named Mirelle, is a reflector with a mirror 1.2 metres across.</p>
<p>Visitors look through a smaller telescope with a 40-centimetre mirror.</p>
<p>The dome of the main telescope is 14 metres wide and turns once in 4 minutes.</p>
<h2 id="visit">Opening hours</h2>
<p>From April to October, the observatory is open to visitors from Thursday to Sunday, 19:00 to 23:30.</p>
<p>From November to March, the observatory opens only on the first Saturday of each month.</p>
<p>Visits are cancelled when the sky is fully overcast; cancelled tickets are refunded in full.</p>
<h2 id="tickets">Tickets</h2>
<ul>
<li>An adult ticket costs 18 euros.</li>
<li>A student ticket costs 11 euros.</li>
<li>Children under 12 visit for free.</li>
<li>A family ticket for two adults and up to three children costs 45 euros.</li>
</ul>
<p>Groups of more than 15 people must book at least two weeks ahead.</p>
<h2>Getting there</h2>
<p>A shuttle bus leaves the village of Tarn for the observatory every 40 minutes from 18:20.</p>
<p>The drive from Tarn to the observatory takes about 25 minutes.</p>
<p>The car park at the observatory has room for 60 cars.</p>
<h2 id="rules">Rules for the night</h2>
<p>Only torches with red light are allowed on the ridge, because white light spoils dark-adapted eyes.</p>
<p>Flash photography is not allowed anywhere in the observatory.</p>
<p>Dress warmly: even in summer, the temperature on the ridge often falls below 5 degrees Celsius at night.</p>
<footer><p>Questions: visits@hollinridge.example</p></footer>
</body>
</html>
"""

# (style, text) in document order; "table" rows are lists of cells.
TRAVEL_POLICY_ZH: list[tuple[str, str | list[list[str]]]] = [
    ("Title", "Calyx Systems（中国）差旅费用报销制度"),
    ("Normal", "本制度自 2026 年 1 月 1 日起施行。"),
    ("Heading 1", "第一条 适用范围"),
    ("Normal", "本制度适用于公司全体正式员工和实习生在中国大陆境内的出差。"),
    ("Normal", "境外出差另按《境外差旅管理办法》执行。"),
    ("Heading 1", "第二条 交通"),
    ("Normal", "城市之间出行优先乘坐高铁二等座。"),
    ("Normal", "单程飞行时间超过 6 小时的航班可以乘坐商务舱，其余航班一律乘坐经济舱。"),
    ("Normal", "市内交通优先使用公共交通，出租车和网约车费用每天不超过 150 元。"),
    ("Heading 1", "第三条 住宿"),
    ("Normal", "城市等级按下表划分。"),
    (
        "table",
        [
            ["城市等级", "包括的城市"],
            ["一线城市", "北京、上海、广州、深圳"],
            ["二线城市", "杭州、南京、成都、武汉、西安等省会城市"],
            ["其他城市", "上表以外的城市"],
        ],
    ),
    ("Normal", "在一线城市出差，住宿费每晚不超过 650 元。"),
    ("Normal", "在二线城市出差，住宿费每晚不超过 480 元。"),
    ("Normal", "在其他城市出差，住宿费每晚不超过 380 元。"),
    ("Normal", "两名同性别员工同行时，原则上合住一间标准间。"),
    ("Heading 1", "第四条 伙食补贴"),
    ("Normal", "出差期间每天发放伙食补贴 120 元，不需要提供发票。"),
    ("Normal", "客户或会议主办方已经提供餐食的，当天的伙食补贴减半发放。"),
    ("Heading 1", "第五条 报销流程"),
    ("Normal", "员工应在出差结束后 30 天内，在费用系统中提交报销申请。"),
    ("Normal", "单次报销金额超过 2 万元的，需要由副总裁审批。"),
    ("Normal", "报销款在审批通过后 7 个工作日内打入员工的工资卡。"),
    ("Heading 1", "第六条 违规处理"),
    ("Normal", "虚报、冒领差旅费用的，公司将追回全部款项，并视情节给予处分。"),
]


def write_docx(path: Path, blocks: list[tuple[str, str | list[list[str]]]]) -> None:
    import io
    import zipfile

    import docx

    document = docx.Document()
    for style, content in blocks:
        if style == "table":
            assert isinstance(content, list)
            table = document.add_table(rows=len(content), cols=len(content[0]))
            for row, cells in zip(table.rows, content, strict=True):
                for cell, text in zip(row.cells, cells, strict=True):
                    cell.text = text
        elif style == "Title":
            document.add_heading(str(content), level=0)
        elif style.startswith("Heading "):
            document.add_heading(str(content), level=int(style.split()[1]))
        else:
            document.add_paragraph(str(content), style=style)
    naive = FIXED_DATE.replace(tzinfo=None)
    props = document.core_properties
    props.created = props.modified = naive
    props.author = props.last_modified_by = "Calyx Systems"
    props.revision = 1
    buffer = io.BytesIO()
    document.save(buffer)
    # python-docx stamps every ZIP entry with the current time: rewrite them with a fixed one.
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=naive.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(info.filename))


def build_corpus(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [build(out / MANUAL, manual_pages())]
    texts = {
        "support-policy.en.txt": (SUPPORT_POLICY_EN, "utf-8"),
        # GBK on purpose: the loader must detect it (strict: fail on a character GBK lacks).
        "property-notice.zh.txt": (PROPERTY_NOTICE_ZH, "gbk"),
        "campus-shuttle.zh.md": (CAMPUS_SHUTTLE_ZH, "utf-8"),
        "observatory.en.html": (OBSERVATORY_EN, "utf-8"),
    }
    for name, (text, encoding) in texts.items():
        path = out / name
        path.write_bytes(text.encode(encoding))
        written.append(path)
    docx_path = out / "travel-policy.zh.docx"
    write_docx(docx_path, TRAVEL_POLICY_ZH)
    written.append(docx_path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    for path in build_corpus(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
