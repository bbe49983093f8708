"""The runtime a training job asks a scheduler for (cifar_nets/machine/runtime.py, issue 24 item 3)."""
from cifar_nets.machine import runtime


def test_more_epochs_or_blocks_ask_for_more_time():
    base = runtime.train_minutes(30, 6, False, 45_000)
    assert runtime.train_minutes(60, 6, False, 45_000) > base
    assert runtime.train_minutes(30, 12, False, 45_000) > base > runtime.train_minutes(30, 0, False, 45_000)
    assert runtime.train_minutes(30, 6, False, 90_000) > base


def test_a_gpu_job_asks_for_less_than_a_cpu_job():
    for n in (0, 6, 12):
        assert runtime.train_minutes(30, n, True, 45_000) < runtime.train_minutes(30, n, False, 45_000)


def test_the_estimate_is_the_measured_rate_with_safety_factor_rounded_up():
    # the default study on the slowest CPU figure: 30 epochs of 45,000 images at 648 images/s
    seconds = 30 * 45_000 / runtime.IMAGES_PER_S["cpu"] + runtime.STARTUP_S
    assert runtime.train_minutes(30, 6, False, 45_000) == -(-runtime.SAFETY * seconds // 60) == 74
    fake = {"cpu": 45_000 / 60, "gpu": 1.0}          # one epoch a minute on the CPU
    assert runtime.train_minutes(100, 6, False, 45_000, rates=fake) == 2 * (100 + 2)


def test_a_short_job_asks_for_the_floor():
    assert runtime.train_minutes(1, 0, True, 100) == runtime.FLOOR_MIN
    assert runtime.train_minutes(0, 6, False, 45_000) == runtime.FLOOR_MIN


def test_depth_cost_follows_the_forward_flops_of_the_res_network():
    from cifar_nets.engine.models import build_model, flops_per_image
    ref = flops_per_image(build_model("res", n_blocks=6))
    for n in (0, 3, 12):
        exact = flops_per_image(build_model("res", n_blocks=n)) / ref
        assert abs(runtime.depth_cost(n) - exact) < 0.01, n


def test_training_images_are_the_used_images_times_the_training_fraction():
    data = {"train_images": 50_000, "use_train_images": "all"}
    assert runtime.training_images(data, 0.9) == 45_000
    assert runtime.training_images(dict(data, use_train_images=5_000), 0.9) == 4_500
