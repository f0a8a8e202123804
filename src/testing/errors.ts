/** The test kit's error. */
import { NetfilterQueueError } from '../netlink/errors.js';

/** A usage error of the test kit (what a real kernel would not allow, or a bad argument); code ERR_TEST_KIT. */
export class TestKitError extends NetfilterQueueError {
  override name = 'TestKitError';
  constructor(message: string) {
    super(message, { code: 'ERR_TEST_KIT' });
  }
}
