"""The demo: the illustrative data set generator, the demo users, a few weeks of demo incidents and
the commands that load them (load_demo_data, seed_demo_incidents, generate_demo_data, demo_logins).

The top floor: it may import every app, and no app imports it.
"""
