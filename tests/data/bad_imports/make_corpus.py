"""Write the bad import files of this folder (their bytes matter, so they are generated rather than typed):

    .venv/bin/python tests/data/bad_imports/make_corpus.py

manifest.toml says, for each file, which importer reads it and the exact errors expected;
tests/imports/test_bad_imports.py runs them.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = "order_id,customer_id,ordered_at,amount,sku\n"
GOOD_ORDER = "O1,C1,2026-01-05,10.00,SKU1\n"


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


FILES: dict[str, bytes] = {
    # --- encodings: every importer refuses them the same way -------------------------------------------
    "big5.csv": (ORDERS + GOOD_ORDER + "O2,C1,2026-01-05,10.00,護膚品\n").encode("big5"),
    "big5_many_rows.csv": (
        "stream_id,started_at,title\n"
        + "".join(
            f"S{i},2026-01-0{i},{t}\n" for i, t in enumerate(["臺北直播", "護膚品專場", "新品發佈會"], 1)
        )
    ).encode("big5"),
    "latin1.csv": (ORDERS + "O2,C1,2026-01-05,10.00,crème brûlée\n").encode("latin-1"),
    "cp1252_smart_quotes.csv": (ORDERS + "O2,C1,2026-01-05,10.00,“Déjà vu” édition\n").encode("cp1252"),
    "shift_jis.csv": (ORDERS + "O2,C1,2026-01-05,10.00,化粧水セット\n").encode("shift_jis"),
    "mixed_utf8_gbk.csv": utf8(ORDERS + "O2,C1,2026-01-05,10.00,美妆\n")
    + "O3,C1,2026-01-05,10.00,护肤\n".encode("gbk")
    + utf8("O4,C1,2026-01-05,10.00,服饰\n"),
    "mixed_gbk_then_utf8.csv": (ORDERS + "O2,C1,2026-01-05,10.00,美妆\n").encode("gbk")
    + utf8("O3,C1,2026-01-05,10.00,护肤\n"),
    "bom_then_gbk.csv": b"\xef\xbb\xbf" + (ORDERS + "O2,C1,2026-01-05,10.00,美妆\n").encode("gbk"),
    "utf16le_with_bom.csv": (ORDERS + GOOD_ORDER).encode("utf-16"),
    "utf16be_without_bom.csv": (ORDERS + GOOD_ORDER).encode("utf-16-be"),
    "invalid_bytes.csv": utf8(ORDERS) + b"O2,C1,2026-01-05,10.00,\xff\xfe\n",
    "empty.csv": b"",
    "bom_only.csv": b"\xef\xbb\xbf",
    # --- CSV shape: every importer --------------------------------------------------------------------------
    "tab_separated.csv": utf8(ORDERS.replace(",", "\t") + GOOD_ORDER.replace(",", "\t")),
    "semicolon_separated.csv": utf8(ORDERS.replace(",", ";") + GOOD_ORDER.replace(",", ";")),
    "pipe_separated.csv": utf8(ORDERS.replace(",", "|") + GOOD_ORDER.replace(",", "|")),
    "quote_inside_value.csv": utf8(ORDERS + GOOD_ORDER + 'O2,C1,2026-01-05,10.00,SKU50"x\n'),
    "text_after_closing_quote.csv": utf8(ORDERS + 'O2,C1,2026-01-05,10.00,"SKU50"x\n'),
    "unterminated_quote.csv": utf8(
        ORDERS + GOOD_ORDER + 'O2,C1,2026-01-05,10.00,"SKU2\nO3,C1,2026-01-05,10.00,SKU3\n'
    ),
    "unterminated_quote_in_header.csv": utf8('"order_id,customer_id,ordered_at,amount\n' + GOOD_ORDER),
    "quote_after_space.csv": utf8(ORDERS + 'O2,C1,2026-01-05,10.00, "SKU2"\n'),
    "broken_quote_after_multiline_value.csv": utf8(
        ORDERS + 'O2,C1,2026-01-05,10.00,"two\nlines"\nO3,C1,2026-01-05,"10"0,SKU3\n'
    ),
    # --- orders ---------------------------------------------------------------------------------------------
    "orders_nul_in_sku.csv": utf8(ORDERS + GOOD_ORDER + "O2,C1,2026-01-05,10.00,SKU\x002\n"),
    "orders_nul_in_order_id.csv": utf8(ORDERS + "O\x001,C1,2026-01-05,10.00,SKU1\n"),
    "orders_bell_in_category.csv": utf8(
        "order_id,customer_id,ordered_at,amount,category\nO1,C1,2026-01-05,1,美\x07妆\n"
    ),
    "orders_del_in_customer.csv": utf8(ORDERS + "O1,C1\x7f,2026-01-05,10.00,SKU1\n"),
    "orders_year_1_shanghai.csv": utf8(ORDERS + "O1,C1,0001-01-01,10.00,SKU1\n"),
    "orders_year_10000_utc.csv": utf8(ORDERS + "O1,C1,9999-12-31T23:00:00-05:00,10.00,SKU1\n"),
    "orders_1900.csv": utf8(ORDERS + "O1,C1,1900-01-01,10.00,SKU1\n"),
    "orders_2099.csv": utf8(ORDERS + "O1,C1,2099-06-01 20:00,10.00,SKU1\n"),
    "orders_usd_jpy_xxx.csv": utf8(
        "order_id,customer_id,ordered_at,amount,currency\n"
        "O1,C1,2026-01-05,10.00,USD\nO2,C1,2026-01-05,1000,jpy\nO3,C1,2026-01-05,5,XXX\nO4,C1,2026-01-05,5,CNY\n"
    ),
    "orders_total_too_large.csv": utf8(
        ORDERS + "O1,C1,2026-01-05,999999999999.99,A\nO1,C1,2026-01-05,999999999999.99,B\n"
    ),
    "orders_quantity_5000_digits.csv": utf8(
        "order_id,customer_id,ordered_at,amount,quantity\nO1,C1,2026-01-05,10.00," + "9" * 5000 + "\n"
    ),
    # --- customers ------------------------------------------------------------------------------------------
    "customers_nul_in_name.csv": utf8("customer_id,name,city\nC7,Li\x00Lei,杭州\n"),
    "customers_escape_in_city.csv": utf8("customer_id,city\nC7,\x1b[31m杭州\n"),
    "customers_c1_control.csv": utf8("customer_id,province\nC7,浙江\x85\n"),
    "customers_first_seen_1899.csv": utf8("customer_id,first_seen_at\nC7,1899-12-31\n"),
    # --- streams and views ----------------------------------------------------------------------------------
    "streams_2099.csv": utf8("stream_id,started_at,ended_at\nS7,2099-01-01 20:00,2099-01-01 22:00\n"),
    "streams_nul_in_title.csv": utf8("stream_id,started_at,title\nS7,2026-01-05 20:00,新年\x00直播\n"),
    "views_joined_2099.csv": utf8(
        "stream_id,customer_id,joined_at\nS1,C1,2026-01-01 20:00\nS1,C7,2099-01-01\n"
    ),
    "views_nul_in_customer.csv": utf8("stream_id,customer_id,watch_seconds\nS1,C\x007,60\n"),
    # --- memberships and redemptions ------------------------------------------------------------------------
    "memberships_joined_1900.csv": utf8("community_id,customer_id,joined_at\nG1,C7,1900-01-01\n"),
    "memberships_left_2099.csv": utf8(
        "community_id,customer_id,joined_at,left_at\nG1,C7,2026-01-05,2099-01-01\n"
    ),
    "redemptions_nul_in_benefit.csv": utf8("customer_id,benefit,redeemed_at\nC1,GIFT\x00,2026-01-05\n"),
    "redemptions_year_0.csv": utf8("customer_id,benefit,redeemed_at\nC1,GIFT,0000-01-01\n"),
}


def main() -> None:
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    print(f"{len(FILES)} files written to {HERE}")


if __name__ == "__main__":
    main()
