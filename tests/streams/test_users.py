from streams.users import add_clicks, top_topics


def test_add_clicks_newest_first_by_event_time_dedup_and_cap():
    entries = add_clicks([], [[11, 1, [5], 10.0], [12, 2, [5, 6], 20.0]], 3)
    assert [e[0] for e in entries] == [12, 11]
    # 12 redelivered; 13 arrives late but is older than 11 by event time
    entries = add_clicks(entries, [[12, 2, [5, 6], 20.0], [13, 3, [6], 5.0], [14, 4, [7], 30.0]], 3)
    assert [e[0] for e in entries] == [14, 12, 11]


def test_top_topics_votes_ties_and_padding():
    entries = [[1, 0, [5, 6], 0.0], [2, 0, [6], 0.0], [3, 0, [4], 0.0]]
    assert top_topics(entries, 2) == [6, 4]  # 6 has 2 votes; 4 and 5 tie on 1: smaller id first
    assert top_topics([], 3) == [-1, -1, -1]
