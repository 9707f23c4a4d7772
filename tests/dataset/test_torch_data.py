"""The torch dataset renders the same shots as the files, in any worker and order."""

import numpy as np
import pytest
import torch

from nanobragg.dataset.runner import run_local
from nanobragg.dataset.storage import read_chunk
from nanobragg.dataset.torch_data import ShotDataset


def test_items_equal_the_stored_shots(tmp_path, small_desc):
    pytest.importorskip("h5py")
    manifest = run_local(small_desc, tmp_path)
    data = ShotDataset(small_desc)
    clean = ShotDataset(small_desc, counts=False)
    assert len(data) == 6
    chunk = read_chunk(tmp_path / manifest["chunks"][1]["file"])
    for k, index in enumerate(chunk["index"]):
        image, labels = data[int(index)]
        assert image.dtype == torch.float32 and image.shape == (24, 24)
        assert np.array_equal(image.numpy(), chunk["counts"][k].astype(np.float32))
        assert np.array_equal(clean[int(index)][0].numpy(), chunk["images"][k])
        for name, values in chunk["labels"].items():
            assert np.array_equal(labels[name].numpy(), values[k]), name
    with pytest.raises(IndexError):
        data[6]


def test_loader_workers_give_the_same_batches(small_desc):
    data = ShotDataset(small_desc)
    serial = [data[i] for i in range(6)]
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2)
    images = torch.cat([batch[0] for batch in loader])
    quaternions = torch.cat([batch[1]["quaternion"] for batch in loader])
    assert torch.equal(images, torch.stack([item[0] for item in serial]))
    assert torch.equal(quaternions, torch.stack([item[1]["quaternion"] for item in serial]))
